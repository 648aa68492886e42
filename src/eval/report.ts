// Results of one `protoserve eval` run: the summary object --json prints, and the report folder
// (report.json for machines; report.md with the reference programs' tables and SVG plots for
// people: IJB-C ROC with the FAR points marked, MegaFace CMC, LFW per-fold table).
// Every rate is a percentage.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { OperatingPoint } from '../artifact/manifest.js';
import type { EmbedStats } from './embed-images.js';
import type { SkippedImage } from './feature-source.js';
import type { IdentificationResult } from './ijbc-1n.js';
import type { IjbcVerificationResult } from './ijbc.js';
import type { LfwResult } from './lfw.js';
import type { MegafaceResult } from './megaface.js';
import { IJB_FAR_TARGETS, pythonFloatLabel } from './roc.js';
import { linePlotSvg } from './svg-plot.js';

export interface Throughput {
  batchSize: number;
  /** Images per second of the whole eval pipeline (decode, align, flip, batches, inference). */
  evalImagesPerSecond: number;
  /** Images per second of the bare ModelSession.run on random batches of the same size (2 inputs per image with the flip test). */
  rawImagesPerSecond: number;
  /**
   * Images per second counting only the time eval spent inside session.run (same batches, same
   * moment): what onnxruntime alone did during the run. eval / this = the share of the wall
   * time onnxruntime was busy.
   */
  inRunSessionImagesPerSecond: number;
  images: number;
}

export interface EvalRun {
  date: string;
  data: string;
  model?: { name: string; version: string; sha256: string; dir: string };
  device?: string;
  features?: string;
  lfw?: LfwResult;
  ijbc?: IjbcVerificationResult;
  ijbc1n?: IdentificationResult;
  megaface?: MegafaceResult;
  embedding?: EmbedStats;
  throughput?: Throughput;
  operatingPoints?: OperatingPoint[];
  /** Images left out under --on-bad-image skip, each with why. */
  skipped?: SkippedImage[];
  /** Images whose damaged data was decoded as imread decodes it. */
  decodeWarnings?: Array<{ image: string; message: string }>;
  notes: string[];
}

const pct = (v: number): number => v * 100;

/** The object `--json` prints: the keys the issue names, rates in percent. */
export function summary(run: EvalRun): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (run.model) out.model = { name: run.model.name, version: run.model.version, sha256: run.model.sha256 };
  if (run.features) out.features = run.features;
  if (run.lfw) {
    out.lfw = {
      accuracy: { mean: pct(run.lfw.accuracy.mean), std: pct(run.lfw.accuracy.std) },
      'val_at_far_1e-3': { val: pct(run.lfw.valAtFar.val), far: pct(run.lfw.valAtFar.far) },
    };
  }
  if (run.ijbc) out.ijbc = { tar_at_far: run.ijbc.tarAtFar };
  if (run.ijbc1n) {
    out.ijbc_1n = { top1: run.ijbc1n.top.top1, top5: run.ijbc1n.top.top5, top10: run.ijbc1n.top.top10, tpir_at_fpir: run.ijbc1n.tpirAtFpir };
  }
  if (run.megaface) {
    const rank1: Record<string, number> = {};
    for (const s of run.megaface.sizes) rank1[String(s.size)] = s.rank1;
    const largest = run.megaface.sizes[run.megaface.sizes.length - 1];
    out.megaface = { rank1, 'tar_at_far_1e-6': largest?.tarAtFar };
  }
  if (run.throughput) out.throughput = run.throughput;
  if (run.operatingPoints) out.operating_points = run.operatingPoints;
  return out;
}

/** Everything, for report.json (ROC curves thinned to at most ~2000 points). */
export function fullReport(run: EvalRun): Record<string, unknown> {
  const out: Record<string, unknown> = { date: run.date, data: run.data, device: run.device, ...summary(run), notes: run.notes };
  if (run.lfw) {
    out.lfw_detail = {
      pairs: run.lfw.pairs,
      excluded_pairs: run.lfw.excludedPairs,
      folds: run.lfw.folds.map((f, i) => ({ fold: i + 1, threshold: f.threshold, accuracy: pct(f.accuracy), val_threshold: f.valThreshold, val: pct(f.val), far: pct(f.far) })),
      val_std: pct(run.lfw.valAtFar.valStd),
    };
  }
  if (run.ijbc) {
    out.ijbc_detail = { pairs: run.ijbc.pairs, excluded_pairs: run.ijbc.excludedPairs, templates_without_images: run.ijbc.templatesWithoutImages, genuine: run.ijbc.genuine, impostor: run.ijbc.impostor, auc: run.ijbc.auc, roc: thinRoc(run.ijbc.roc.fpr, run.ijbc.roc.tpr, 2000) };
  }
  if (run.ijbc1n) out.ijbc_1n_detail = { probes: run.ijbc1n.probes, gallery: run.ijbc1n.gallery, excluded_probes: run.ijbc1n.excludedProbes, excluded_gallery: run.ijbc1n.excludedGallery, cmc: run.ijbc1n.cmc, thresholds: run.ijbc1n.thresholds };
  if (run.megaface) out.megaface_detail = run.megaface;
  if (run.embedding) out.embedding = run.embedding;
  if (run.skipped?.length) out.skipped = run.skipped;
  if (run.decodeWarnings?.length) out.decode_warnings = run.decodeWarnings;
  return out;
}

function thinRoc(fpr: Float64Array, tpr: Float64Array, max: number): { fpr: number[]; tpr: number[] } {
  // Keep points evenly spaced in log10(FPR), plus the first and last.
  const keep: number[] = [];
  let last = -Infinity;
  const step = 8 / max;
  for (let i = 0; i < fpr.length; i++) {
    const l = fpr[i] > 0 ? Math.log10(fpr[i]) : -Infinity;
    if (i === 0 || i === fpr.length - 1 || l - last >= step) {
      keep.push(i);
      last = l;
    }
  }
  return { fpr: keep.map((i) => fpr[i]), tpr: keep.map((i) => tpr[i]) };
}

const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : String(v));

export function markdown(run: EvalRun, plots: { ijbcRoc?: string; megafaceCmc?: string }): string {
  const lines: string[] = [];
  const who = run.model ? `${run.model.name} ${run.model.version} (sha256 ${run.model.sha256.slice(0, 12)})` : `features in ${run.features}`;
  lines.push(`# protoserve eval: ${who}`, '');
  lines.push(`- date: ${run.date}`, `- data: ${run.data}`);
  if (run.device) lines.push(`- device: ${run.device}`);
  if (run.features && run.model) lines.push(`- features: ${run.features}`);
  lines.push('- all rates in percent', '');
  if (run.lfw) {
    const r = run.lfw;
    lines.push('## LFW (10-fold verification accuracy)', '');
    lines.push('| Fold | Threshold (sq. L2) | Accuracy | VAL@FAR=1e-3 threshold | VAL | FAR |', '|---:|---:|---:|---:|---:|---:|');
    r.folds.forEach((f, i) => lines.push(`| ${i + 1} | ${f.threshold.toFixed(2)} | ${pct(f.accuracy).toFixed(2)} | ${f.valThreshold.toFixed(6)} | ${pct(f.val).toFixed(2)} | ${pct(f.far).toFixed(3)} |`));
    lines.push('', `Accuracy-Flip: **${pct(r.accuracy.mean).toFixed(2)} +- ${pct(r.accuracy.std).toFixed(2)}** over ${r.pairs} pairs; ` +
      `VAL@FAR=1e-3: ${pct(r.valAtFar.val).toFixed(2)} +- ${pct(r.valAtFar.valStd).toFixed(2)} @ FAR ${pct(r.valAtFar.far).toFixed(3)}`, '');
  }
  if (run.ijbc) {
    const labels = IJB_FAR_TARGETS.map(pythonFloatLabel);
    lines.push('## IJB-C 1:1 verification (TAR@FAR)', '');
    lines.push(`| Methods | ${labels.join(' | ')} |`, `|---|${labels.map(() => '---:').join('|')}|`);
    lines.push(`| ${run.model?.name ?? 'features'}-IJBC | ${labels.map((l) => f2(run.ijbc?.tarAtFar[l] ?? NaN)).join(' | ')} |`, '');
    lines.push(`${run.ijbc.pairs} template pairs (${run.ijbc.genuine} genuine, ${run.ijbc.impostor} impostor); AUC ${(run.ijbc.auc * 100).toFixed(4)}`, '');
    if (plots.ijbcRoc) lines.push(`![IJB-C ROC](${plots.ijbcRoc})`, '');
  }
  if (run.ijbc1n) {
    const r = run.ijbc1n;
    lines.push('## IJB-C 1:N identification', '');
    lines.push('| Top-1 | Top-5 | Top-10 | TPIR@FPIR=0.01 | TPIR@FPIR=0.1 |', '|---:|---:|---:|---:|---:|');
    lines.push(`| ${f2(r.top.top1)} | ${f2(r.top.top5)} | ${f2(r.top.top10)} | ${f2(r.tpirAtFpir['0.01'])} | ${f2(r.tpirAtFpir['0.1'])} |`, '');
    lines.push(`${r.probes} probe templates, ${r.gallery} gallery templates (G1 + G2)`, '');
  }
  if (run.megaface) {
    const r = run.megaface;
    lines.push('## MegaFace challenge 1 (FaceScrub probes)', '');
    lines.push('| Distractors | Rank-1 | Rank-10 | TAR@FAR=1e-6 |', '|---:|---:|---:|---:|');
    for (const s of r.sizes) lines.push(`| ${s.size} | ${f2(s.rank1)} | ${f2(s.cmc[s.cmc.length - 1])} | ${f2(s.tarAtFar)} |`);
    lines.push('', `${r.probes} probe images of ${r.identities} identities, ${r.queries} (query, gallery) pairs per distractor size`, '');
    if (plots.megafaceCmc) lines.push(`![MegaFace CMC](${plots.megafaceCmc})`, '');
  }
  if (run.throughput) {
    const t = run.throughput;
    lines.push('## Throughput', '');
    lines.push(`eval pipeline ${t.evalImagesPerSecond.toFixed(1)} images/s vs bare onnxruntime session ${t.rawImagesPerSecond.toFixed(1)} images/s ` +
      `(batch ${t.batchSize}, ${t.images} images, flip test: 2 inputs per image; ratio ${(t.evalImagesPerSecond / t.rawImagesPerSecond).toFixed(2)}). ` +
      `Inside the run, session.run alone went at ${t.inRunSessionImagesPerSecond.toFixed(1)} images/s: onnxruntime was busy ` +
      `${((100 * t.evalImagesPerSecond) / t.inRunSessionImagesPerSecond).toFixed(0)}% of the wall time.`, '');
  }
  if (run.operatingPoints) {
    lines.push('## Operating points written to the manifest', '', '| FAR | Threshold (cosine) | Source |', '|---:|---:|---|');
    for (const p of run.operatingPoints) lines.push(`| ${pythonFloatLabel(p.far)} | ${p.threshold.toFixed(6)} | ${p.source ?? ''} |`);
    lines.push('');
  }
  if (run.notes.length > 0) lines.push('## Notes', '', ...run.notes.map((n) => `- ${n}`), '');
  if (run.skipped?.length) {
    lines.push('## Skipped images (--on-bad-image skip)', '', '| Image | Code | Why |', '|---|---|---|');
    for (const k of run.skipped) lines.push(`| ${k.image} | ${k.code} | ${k.message.replace(/\|/g, '\\|')} |`);
    lines.push('');
  }
  return lines.join('\n');
}

export function ijbcRocSvg(run: EvalRun): string | undefined {
  const r = run.ijbc;
  if (!r) return undefined;
  const labels = IJB_FAR_TARGETS.map(pythonFloatLabel);
  let minY = 1;
  for (let i = 0; i < r.roc.fpr.length; i++) if (r.roc.fpr[i] >= 1e-6 && r.roc.tpr[i] < minY) minY = r.roc.tpr[i];
  // The reference plots TPR in [0.3, 1]; lower when the model is weaker.
  const y0 = Math.min(0.3, Math.floor(minY * 10) / 10);
  const yTicks: number[] = [];
  for (let v = y0; v <= 1.0001; v += 0.1) yTicks.push(Number(v.toFixed(1)));
  return linePlotSvg(
    [{
      label: `${run.model?.name ?? 'features'} (AUC ${(r.auc * 100).toFixed(2)}%)`,
      x: r.roc.fpr,
      y: r.roc.tpr,
      marks: IJB_FAR_TARGETS.map((far, i) => ({ x: far, y: (r.tarAtFar[labels[i]] ?? 0) / 100, text: (r.tarAtFar[labels[i]] ?? 0).toFixed(2) })),
    }],
    {
      title: 'ROC on IJB-C', xLabel: 'False Positive Rate', yLabel: 'True Positive Rate', xLog: true,
      xRange: [1e-6, 0.1], yRange: [y0, 1], xTicks: [...IJB_FAR_TARGETS], yTicks,
      formatX: (v) => `1e${Math.round(Math.log10(v))}`, formatY: (v) => v.toFixed(1),
    },
  );
}

export function megafaceCmcSvg(run: EvalRun): string | undefined {
  const r = run.megaface;
  if (!r) return undefined;
  const ranks = r.sizes[0]?.cmc.length ?? 10;
  const x = Array.from({ length: ranks }, (_, i) => i + 1);
  let minY = 100;
  for (const s of r.sizes) for (const v of s.cmc) minY = Math.min(minY, v);
  const y0 = Math.max(0, Math.floor(minY / 10) * 10 - (minY % 10 === 0 ? 10 : 0));
  const yTicks: number[] = [];
  for (let v = y0; v <= 100; v += y0 >= 80 ? 2 : 10) yTicks.push(v);
  return linePlotSvg(
    r.sizes.map((s) => ({ label: `${s.size.toLocaleString('en-US')} distractors`, x, y: s.cmc })),
    { title: 'MegaFace CMC (FaceScrub probes)', xLabel: 'Rank', yLabel: 'Identification rate (%)', xRange: [1, ranks], yRange: [y0, 100], xTicks: x, yTicks },
  );
}

/** Writes report.json, report.md and the plots into `dir`; returns the files written. */
export async function writeReport(run: EvalRun, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const plots: { ijbcRoc?: string; megafaceCmc?: string } = {};
  const roc = ijbcRocSvg(run);
  if (roc) {
    plots.ijbcRoc = 'ijbc-roc.svg';
    await writeFile(join(dir, plots.ijbcRoc), roc);
    files.push(join(dir, plots.ijbcRoc));
  }
  const cmc = megafaceCmcSvg(run);
  if (cmc) {
    plots.megafaceCmc = 'megaface-cmc.svg';
    await writeFile(join(dir, plots.megafaceCmc), cmc);
    files.push(join(dir, plots.megafaceCmc));
  }
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(fullReport(run), null, 2)}\n`);
  await writeFile(join(dir, 'report.md'), markdown(run, plots));
  files.push(join(dir, 'report.json'), join(dir, 'report.md'));
  return files;
}
