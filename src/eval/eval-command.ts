// `protoserve eval`: scores an embedder (or precomputed features) on LFW, IJB-C 1:1, IJB-C 1:N
// and MegaFace exactly as InsightFace's evaluation programs do, with progress on stderr,
// --json on stdout, and a report folder (JSON, Markdown, SVG).
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { listArtifacts } from '../artifact/registry.js';
import { readArtifact, type LoadedArtifact } from '../artifact/read-artifact.js';
import { hasCode, messageOf } from '../errors.js';
import { describeProvider } from '../infer/create-session.js';
import { ModelSession } from '../infer/model-session.js';
import { Progress, formatDuration, type ProgressOptions } from '../progress.js';
import { calibrate, servedPipelineNote } from './calibrate.js';
import { BAD_IMAGE_POLICIES, ImageEmbedder, type BadImagePolicy } from './embed-images.js';
import { EvalError } from './eval-error.js';
import { DEFAULT_FEATURE_SUFFIX } from './feature-file.js';
import { FeatureFiles, type FeatureSource } from './feature-source.js';
import { loadIjbImages, runIjbVerification, type IjbImageSet } from './ijbc.js';
import { runIjbIdentification } from './ijbc-1n.js';
import type { IjbTarget } from './ijbc-meta.js';
import { runLfw } from './lfw.js';
import { runMegaface, readMegafaceLists } from './megaface.js';
import { summary, writeReport, type EvalRun, type Throughput } from './report.js';

export const BENCHMARKS = ['lfw', 'ijbc', 'ijbc-1n', 'megaface'] as const;
export type Benchmark = (typeof BENCHMARKS)[number];

const HELP = `Usage: protoserve eval <benchmark>... --data <dir> (--model <name|dir> | --features <dir>) [options]

Benchmarks (computed as InsightFace's evaluation code computes them; every rate in percent):
  lfw        10-fold verification accuracy (mean, std) and VAL@FAR=1e-3     <data>/pairs.txt + <name>/<name>_0001.jpg
  ijbc       IJB-C 1:1 TAR@FAR at 1e-6 .. 1e-1 (template/media aggregation) <data>/meta/ijbc_*.txt + loose_crop/
  ijbc-1n    IJB-C 1:N top-1/5/10 and TPIR@FPIR 0.01, 0.1                   <data>/meta/ijbc_1N_*.csv
  megaface   MegaFace rank-1 per distractor size and TAR@FAR=1e-6           <data>/templatelists/ (devkit)
  ijbc and ijbc-1n share the image features when given together.

Features:
  --model NAME|DIR       an embedder: a name under --models, or an artifact folder
  --models DIR           models folder (default ./models)
  --features DIR         score precomputed features instead: one file per image at
                         DIR/<image path relative to --data><suffix>, OpenCV-matrix layout (MegaFace devkit);
                         MegaFace: DIR/facescrub/<path><suffix> and DIR/megaface/<path><suffix>
  --feature-suffix S     (default ${DEFAULT_FEATURE_SUFFIX})
  --save-features DIR    also write every image's feature there, in the --features layout
                         (LFW, IJB-C: f(img)+f(flip) as float64; MegaFace: normalized float32)

Options:
  --data DIR             the benchmark's folder (required)
  --out DIR              report folder (report.json, report.md, plots); default runs/eval/<model>-<benchmarks>
  --json                 print the results as one JSON object on stdout
  --calibrate            write similarity thresholds at FAR 1e-3, 1e-4, 1e-5 (from the IJB-C and LFW
                         impostor scores) into the model's manifest as operating points, each with the
                         pipeline it was measured on; the server uses only LFW points from --no-flip
                         runs (single images, no flip test, as it serves)
  --target ijbc|ijbb     IJB release for ijbc/ijbc-1n (default ijbc; file names follow it)
  --megaface-set N       distractor set (default 1)
  --clean                MegaFace: apply the noise lists <data>/facescrub_noises.txt, megaface_noises.txt
  --device NAME          auto | cpu | cuda | webgpu (default auto)
  --batch-size N         inputs per onnxruntime run (default 64; the flip test puts 2 per image)
  --workers N            image decode/align threads (default: half the CPUs, 1 to 8; more for a GPU)
  --cache DIR            embedding cache (default .cache/eval), keyed by each image's content (a moved
                         data folder keeps its cache); --no-cache to turn it off
  --on-bad-image fail|skip
                         an image that cannot be read or decoded (damaged data is decoded as OpenCV's
                         imread decodes it, with a warning) fails the run (default), or is skipped:
                         every skipped file is reported, and each benchmark leaves out what it needs
                         (LFW: its pairs; IJB-C: the image, then templates left without images and
                         their pairs/probes; MegaFace: the probe or distractor), counted in the report
  --no-flip              no flip test (the reference always flips)
  --throughput           also time the bare onnxruntime session on the same number of inputs and
                         batch size, and report both rates (images/s)
  -h, --help`;

interface Options {
  benchmarks: Benchmark[];
  data: string;
  model?: string;
  models: string;
  features?: string;
  suffix: string;
  saveFeatures?: string;
  out?: string;
  json: boolean;
  calibrate: boolean;
  target: IjbTarget;
  megafaceSet: number;
  clean: boolean;
  device: string;
  batchSize: number;
  workers?: number;
  cache?: string;
  flip: boolean;
  throughput: boolean;
  onBadImage: BadImagePolicy;
}

/** EVAL_USAGE naming the option concerned (details.option). */
function usageError(msg: string, option: string): EvalError {
  return new EvalError('EVAL_USAGE', `${msg} (see protoserve eval --help)`, { details: { option } });
}

function parse(argv: string[]): Options | 'help' {
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    // node:util parseArgs: an unknown option, a missing value (its code names which).
    throw usageError(messageOf(err), hasCode(err) ? err.code : 'arguments');
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const usage = (msg: string, option: string): never => {
    throw usageError(msg, option);
  };
  const benchmarks = positionals.flatMap((p) => p.split(','));
  if (benchmarks.length === 0) usage(`name a benchmark: ${BENCHMARKS.join(', ')}`, 'benchmark');
  for (const b of benchmarks) if (!(BENCHMARKS as readonly string[]).includes(b)) usage(`unknown benchmark "${b}". Should be one of: ${BENCHMARKS.join(', ')}`, 'benchmark');
  if (!values.data) usage('--data is required', '--data');
  if (!values.model && !values.features) usage('give --model (run the embedder on the images) or --features (precomputed features)', '--model');
  if (values.model && values.features) usage('--model and --features exclude each other', '--features');
  if (values.calibrate && !values.model) usage('--calibrate writes into a model manifest: it needs --model', '--calibrate');
  if (values.calibrate && !benchmarks.includes('lfw') && !benchmarks.includes('ijbc')) {
    usage('--calibrate takes its thresholds from impostor scores: add ijbc or lfw to the benchmarks', '--calibrate');
  }
  if (values.throughput && !values.model) usage('--throughput times the model: it needs --model', '--throughput');
  if (values['save-features'] && !values.model) usage('--save-features needs --model', '--save-features');
  const int = (v: string | undefined, name: string, def: number | undefined, min = 1): number | undefined => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`--${name}: expected an integer >= ${min}, got "${v}"`, `--${name}`);
    return n;
  };
  const target = values.target ?? 'ijbc';
  if (target !== 'ijbc' && target !== 'ijbb') usage(`--target: "${target}" is not ijbc or ijbb`, '--target');
  const onBadImage = values['on-bad-image'] ?? 'fail';
  if (!(BAD_IMAGE_POLICIES as readonly string[]).includes(onBadImage)) usage(`--on-bad-image: "${onBadImage}" is not ${BAD_IMAGE_POLICIES.join(' or ')}`, '--on-bad-image');
  if (onBadImage !== 'fail' && !values.model) usage('--on-bad-image applies to images: it needs --model', '--on-bad-image');
  return {
    benchmarks: [...new Set(benchmarks)] as Benchmark[],
    data: resolve(values.data as string),
    model: values.model,
    models: values.models ?? 'models',
    features: values.features ? resolve(values.features) : undefined,
    suffix: values['feature-suffix'] ?? DEFAULT_FEATURE_SUFFIX,
    saveFeatures: values['save-features'] ? resolve(values['save-features']) : undefined,
    out: values.out,
    json: values.json as boolean,
    calibrate: values.calibrate as boolean,
    target: target as IjbTarget,
    megafaceSet: int(values['megaface-set'], 'megaface-set', 1) as number,
    clean: values.clean as boolean,
    device: values.device ?? 'auto',
    batchSize: int(values['batch-size'], 'batch-size', 64, 2) as number,
    workers: int(values.workers, 'workers', undefined),
    cache: values['no-cache'] ? undefined : (values.cache ?? join('.cache', 'eval')),
    flip: !values['no-flip'],
    throughput: values.throughput as boolean,
    onBadImage: onBadImage as BadImagePolicy,
  };
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      model: { type: 'string' },
      models: { type: 'string' },
      features: { type: 'string' },
      'feature-suffix': { type: 'string' },
      'save-features': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      calibrate: { type: 'boolean', default: false },
      target: { type: 'string' },
      'megaface-set': { type: 'string' },
      clean: { type: 'boolean', default: false },
      device: { type: 'string' },
      'batch-size': { type: 'string' },
      workers: { type: 'string' },
      cache: { type: 'string' },
      'no-cache': { type: 'boolean', default: false },
      'no-flip': { type: 'boolean', default: false },
      throughput: { type: 'boolean', default: false },
      'on-bad-image': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

/** --model: an artifact folder, or a manifest name (or folder name) under --models. */
async function resolveModel(model: string, modelsDir: string): Promise<LoadedArtifact> {
  const asDir = resolve(model);
  const isDir = await stat(join(asDir, 'manifest.json')).then(() => true, () => false);
  if (isDir) return readArtifact(asDir);
  const listing = await listArtifacts(modelsDir);
  const found = listing.artifacts.find((a) => a.manifest.name === model || a.dir.endsWith(`/${model}`));
  if (found) return found;
  const broken = listing.broken.find((b) => b.dir.endsWith(`/${model}`));
  if (broken) throw new EvalError('MODEL_NOT_EVALUABLE', `Model "${model}" in ${listing.modelsDir} cannot be used: ${broken.message}`);
  const names = listing.artifacts.map((a) => a.manifest.name);
  throw new EvalError('MODEL_NOT_FOUND', `No model "${model}" in ${listing.modelsDir} (models: ${names.length ? names.join(', ') : 'none'}), and ${asDir} is not an artifact folder`);
}

/**
 * Progress on stderr, its clock started now (call it just before the work); the total may come
 * with the first tick (when the image list is read).
 */
function progressFor(io: EvalIo, what: string, total?: number, unit = 'img'): { tick: (n: number, total?: number) => void; done: () => void } {
  // Progress keeps this object and reads `total` on every line, so a total learnt later is shown.
  const options: ProgressOptions = { unit, total, write: io.stderr, isTTY: io === PROCESS_IO ? Boolean(process.stderr.isTTY) : false };
  const p = new Progress(options);
  let ticked = false;
  return {
    tick: (n, t) => {
      options.total ??= t;
      ticked = true;
      p.tick(n, what);
    },
    done: () => {
      if (!ticked) return;
      p.tick(0, what, true);
      p.finish();
    },
  };
}

/** Where the command writes: stdout gets --help and the --json line, stderr everything else. */
export interface EvalIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: EvalIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

export async function evalCommand(argv: string[], io: EvalIo = PROCESS_IO): Promise<number> {
  const opts = parse(argv);
  if (opts === 'help') {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const started = performance.now();
  const run: EvalRun = { date: new Date().toISOString(), data: opts.data, notes: [] };
  let source: FeatureSource;
  let embedder: ImageEmbedder | undefined;
  let session: ModelSession | undefined;
  let artifact: LoadedArtifact | undefined;
  let calibrationError: unknown;
  if (opts.model) {
    artifact = await resolveModel(opts.model, opts.models);
    const m = artifact.manifest;
    if (m.task !== 'embedder') throw new EvalError('MODEL_NOT_EVALUABLE', `Model "${m.name}" is a ${m.task}; eval needs an embedder (manifest.task "embedder")`);
    session = await ModelSession.create(artifact, { device: opts.device });
    run.model = { name: m.name, version: m.version, sha256: m.sha256, dir: artifact.dir };
    run.device = describeProvider(session);
    io.stderr(`eval: ${m.name} ${m.version} on ${run.device}, batch ${opts.batchSize}${opts.flip ? ', flip test' : ''}\n`);
    embedder = new ImageEmbedder({
      dataDir: opts.data,
      session,
      modelSha256: m.sha256,
      batchSize: opts.batchSize,
      workers: opts.workers,
      cacheDir: opts.cache ? resolve(opts.cache) : undefined,
      saveFeaturesDir: opts.saveFeatures,
      suffix: opts.suffix,
      flip: opts.flip,
      warn: (m) => io.stderr(`${m}\n`),
      onBadImage: opts.onBadImage,
    });
    source = embedder;
    if (!opts.flip) run.notes.push('Flip test off (--no-flip): results differ from the reference protocol.');
  } else {
    source = new FeatureFiles(opts.features as string, opts.suffix);
    run.features = opts.features;
  }

  const outDir = resolve(opts.out ?? join('runs', 'eval', `${run.model?.name ?? 'features'}-${opts.benchmarks.join('+')}`));
  /** The report as it stands: written after each benchmark, so a later failure loses nothing. */
  const saveReport = async (): Promise<string[]> => {
    if (embedder) {
      run.embedding = { ...embedder.stats };
      run.skipped = [...embedder.skipped];
      run.decodeWarnings = [...embedder.warnings];
    }
    return writeReport(run, outDir);
  };
  let step = 'setup';
  try {
    const has = (b: Benchmark) => opts.benchmarks.includes(b);
    if (has('lfw')) {
      step = 'LFW';
      io.stderr('eval: LFW\n');
      const p = progressFor(io, 'lfw features');
      run.lfw = await runLfw(opts.data, source, p.tick);
      p.done();
      if (run.lfw.excludedPairs > 0) {
        run.notes.push(`LFW: ${run.lfw.excludedPairs} of ${run.lfw.pairs} pairs left out (an image skipped); folds keep their place in pairs.txt. Not comparable with the reference's full list.`);
      }
      await saveReport();
    }
    if (has('ijbc') || has('ijbc-1n')) {
      step = opts.target.toUpperCase();
      embedder?.checkAlignable();
      io.stderr(`eval: ${opts.target.toUpperCase()} image features\n`);
      const p = progressFor(io, `${opts.target} features`);
      const set: IjbImageSet = await loadIjbImages(opts.data, source, { target: opts.target, onProgress: p.tick });
      p.done();
      if (set.nameMismatches > 0) {
        run.notes.push(`${set.nameMismatches} rows of the face/template/media list name another image than the landmark list's row; rows are paired by position, as the reference does.`);
      }
      if (has('ijbc')) {
        step = `${opts.target.toUpperCase()} 1:1`;
        const q = progressFor(io, 'template pairs', undefined, 'pairs');
        run.ijbc = await runIjbVerification(set, q.tick);
        q.done();
        if (run.ijbc.excludedPairs > 0) {
          run.notes.push(
            `IJB-C 1:1: ${run.ijbc.excludedPairs} of ${run.ijbc.pairs} template pairs left out: template(s) ${run.ijbc.templatesWithoutImages.slice(0, 20).join(', ')}` +
              `${run.ijbc.templatesWithoutImages.length > 20 ? ', ...' : ''} have no image left. Other templates are aggregated without their skipped images. Not comparable with the reference's full list.`,
          );
        }
        await saveReport();
      }
      if (has('ijbc-1n')) {
        step = `${opts.target.toUpperCase()} 1:N`;
        run.ijbc1n = await runIjbIdentification(set);
        if (run.ijbc1n.excludedProbes + run.ijbc1n.excludedGallery > 0) {
          run.notes.push(`IJB-C 1:N: ${run.ijbc1n.excludedGallery} gallery and ${run.ijbc1n.excludedProbes} probe templates left out (no image left, or no gallery mate left). Not comparable with the reference's full lists.`);
        }
        await saveReport();
      }
    }
    if (has('megaface')) {
      step = 'MegaFace';
      const lists = await readMegafaceLists(opts.data, { set: opts.megafaceSet });
      const distinct = new Set(lists.distractors.flatMap((d) => d.paths)).size;
      io.stderr(`eval: MegaFace, ${lists.probePaths.length} probes, ${distinct} distractors (sizes ${lists.distractors.map((d) => d.size).join(', ')})\n`);
      const pp = progressFor(io, 'facescrub', lists.probePaths.length);
      // The distractors' clock starts with their first (empty) tick, once the probes are done.
      let pd: ReturnType<typeof progressFor> | undefined;
      run.megaface = await runMegaface(opts.data, source, {
        set: opts.megafaceSet,
        clean: opts.clean,
        onProbeProgress: pp.tick,
        onProgress: (n) => (pd ??= progressFor(io, 'megaface distractors', distinct)).tick(n),
      });
      pp.done();
      pd?.done();
      if (opts.clean) run.notes.push('MegaFace cleaned with the noise lists (noisy probes replaced by their identity centre, without remove_noises.py\'s random jitter; noisy distractors never match).');
      else run.notes.push('MegaFace without the noise lists (--clean applies them, as InsightFace reports 1M rank-1).');
      const excludedDistractors = Math.max(0, ...run.megaface.sizes.map((x) => x.excludedDistractors));
      if (run.megaface.excludedProbes + excludedDistractors > 0) {
        run.notes.push(`MegaFace: ${run.megaface.excludedProbes} probe images and ${excludedDistractors} distractors left out (skipped images); impostor counts and queries are over the rest. Not comparable with the reference's full lists.`);
      }
      await saveReport();
    }
    step = 'the end of the run';
    if (embedder && embedder.stats.cached > 0) run.notes.push(`${embedder.stats.cached} of ${embedder.stats.images} image features came from the cache (${opts.cache}).`);
    if (embedder && embedder.skipped.length > 0) run.notes.push(`${embedder.skipped.length} image(s) skipped (--on-bad-image skip); every one is listed under "skipped" in report.json.`);
    if (embedder && embedder.warnings.length > 0) run.notes.push(`${embedder.warnings.length} image(s) had damaged data, decoded as OpenCV's imread decodes it (listed under "decode_warnings" in report.json).`);
    if (opts.throughput && session && embedder) {
      step = 'the throughput measurement';
      run.throughput = await measureThroughput(session, embedder, opts.batchSize, io);
    }
    if (opts.calibrate && artifact) {
      try {
        const points = await calibrate(run, artifact.dir, { expectedSha256: artifact.manifest.sha256, flip: opts.flip });
        run.operatingPoints = points.map(({ far, threshold, source: s, pipeline }) => ({ far, threshold, source: s, pipeline }));
        const served = servedPipelineNote(points, artifact.manifest);
        if (served) run.notes.push(served);
        for (const p of points) {
          if (p.underSampled) run.notes.push(`Calibration: FAR ${p.far} needs more than ${Math.ceil(1 / p.far)} impostor pairs; its threshold is the highest impostor score.`);
        }
        io.stderr(`eval: operating points written to ${join(artifact.dir, 'manifest.json')}\n`);
      } catch (err) {
        // The benchmark's results are kept: the report is written, then the error is raised.
        calibrationError = err;
        run.notes.push(`Calibration failed, no operating points written: ${messageOf(err)}`);
      }
    }
  } catch (err) {
    // The benchmarks that finished are in the report already; say which step failed, and why.
    run.notes.push(`Stopped in ${step}: ${hasCode(err) ? `${err.code}: ` : ''}${messageOf(err)}. The results above are complete.`);
    await saveReport().catch(() => undefined);
    io.stderr(`eval: ${step} failed; the report of what finished is in ${outDir}\n`);
    throw err;
  } finally {
    await embedder?.close();
    await session?.release();
  }

  const files = await saveReport();
  const result = summary(run);
  printSummary(run, io);
  io.stderr(`eval: report in ${outDir} (${files.length} files), ${formatDuration((performance.now() - started) / 1000)}\n`);
  if (calibrationError !== undefined) throw calibrationError;
  if (opts.json) io.stdout(`${JSON.stringify(result)}\n`);
  return 0;
}

/**
 * Times ModelSession.run alone on random batches of the same size, for as many inputs as the
 * eval run computed (at least a few batches), so the two rates come from one process and one model.
 */
async function measureThroughput(session: ModelSession, embedder: ImageEmbedder, batchSize: number, io: EvalIo): Promise<Throughput> {
  const stats = embedder.stats;
  const perImage = stats.computed > 0 ? stats.inferences / stats.computed : 2;
  const inputs = Math.max(stats.inferences, batchSize * 3);
  const batch = new Float32Array(batchSize * session.itemSize);
  for (let i = 0; i < batch.length; i++) batch[i] = Math.random() * 2 - 1;
  await session.run(batch, batchSize); // warm-up
  const t0 = performance.now();
  let done = 0;
  while (done < inputs) {
    await session.run(batch, batchSize);
    done += batchSize;
  }
  const rawSeconds = (performance.now() - t0) / 1000;
  const evalRate = stats.computed > 0 ? stats.computed / stats.seconds : NaN;
  if (stats.cached > 0) io.stderr('eval: --throughput with cached features: the eval rate counts computed images only; use --no-cache for a cold run\n');
  return {
    batchSize,
    evalImagesPerSecond: evalRate,
    rawImagesPerSecond: done / perImage / rawSeconds,
    inRunSessionImagesPerSecond: stats.computed > 0 ? stats.computed / stats.inferenceSeconds : NaN,
    images: stats.computed,
  };
}

function printSummary(run: EvalRun, io: EvalIo): void {
  const w = (s: string) => io.stderr(`${s}\n`);
  w('');
  if (run.lfw) {
    w(`LFW        accuracy ${(run.lfw.accuracy.mean * 100).toFixed(2)} +- ${(run.lfw.accuracy.std * 100).toFixed(2)}   VAL@FAR=1e-3 ${(run.lfw.valAtFar.val * 100).toFixed(2)} (FAR ${(run.lfw.valAtFar.far * 100).toFixed(3)})`);
  }
  if (run.ijbc) w(`IJB-C 1:1  TAR@FAR ${Object.entries(run.ijbc.tarAtFar).map(([k, v]) => `${k}: ${v.toFixed(2)}`).join('  ')}`);
  if (run.ijbc1n) {
    const r = run.ijbc1n;
    w(`IJB-C 1:N  top1 ${r.top.top1.toFixed(2)}  top5 ${r.top.top5.toFixed(2)}  top10 ${r.top.top10.toFixed(2)}  TPIR@FPIR 0.01: ${r.tpirAtFpir['0.01'].toFixed(2)}  0.1: ${r.tpirAtFpir['0.1'].toFixed(2)}`);
  }
  if (run.megaface) {
    for (const s of run.megaface.sizes) w(`MegaFace   ${String(s.size).padStart(7)} distractors: rank-1 ${s.rank1.toFixed(2)}  TAR@FAR=1e-6 ${s.tarAtFar.toFixed(2)}`);
  }
  if (run.throughput) {
    const t = run.throughput;
    w(
      `Throughput eval ${t.evalImagesPerSecond.toFixed(1)} img/s vs bare onnxruntime ${t.rawImagesPerSecond.toFixed(1)} img/s (batch ${t.batchSize}); ` +
        `session.run inside the run ${t.inRunSessionImagesPerSecond.toFixed(1)} img/s`,
    );
  }
  for (const n of run.notes) w(`note: ${n}`);
}
