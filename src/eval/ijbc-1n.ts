// IJB-B/C 1:N identification, as InsightFace's recognition/_evaluation_/ijb/ijb_1n.py computes it:
//   gallery = G1 union G2 templates (one per subject), probes = the mixed probe templates, both
//   aggregated like 1:1 (templateFeatures) over every image of the template;
//   similarity = dot product; Top-k = fraction of probes whose mate is among the k best;
//   TPIR@FPIR: k = ceil(n_probes * FPIR), threshold = the k-th largest non-mate score over all
//   probe x gallery pairs, TPIR = fraction of probes whose mate score is above it.
// Ties in the ranking keep gallery order (the reference sorts with an unstable quicksort, which
// only matters for exactly equal scores).
import { EvalError } from './eval-error.js';
import { templateFeatures, templatesWithoutImages, type IjbImageSet, type TemplateFeatures } from './ijbc.js';
import { ijbMetaPaths, readTemplateSubjects } from './ijbc-meta.js';
import { dotPairwise, farRank } from './numeric.js';
import { TopKLargest } from './top-k.js';

export const FPIR_TARGETS = [0.01, 0.1] as const;
export const TOP_K = [1, 5, 10] as const;

export interface TemplateSet {
  templates: Int32Array;
  subjects: Int32Array;
}

export interface IdentificationSet extends TemplateFeatures {
  /** Subject of each template (its first row in the csv). */
  subjects: Int32Array;
}

/**
 * np.unique(choose_templates, return_index=True): sorted template ids, subject of the first row.
 * Templates in `withoutImages` (every image skipped) are left out and listed in `excluded`.
 */
export function identificationSet(
  imageFeatures: Float64Array,
  dim: number,
  templates: Int32Array,
  medias: Int32Array,
  chosen: TemplateSet,
  options: { missing?: Uint8Array; withoutImages?: ReadonlySet<number> } = {},
): IdentificationSet & { excluded: number[] } {
  const firstSubject = new Map<number, number>();
  for (let i = 0; i < chosen.templates.length; i++) {
    if (!firstSubject.has(chosen.templates[i])) firstSubject.set(chosen.templates[i], chosen.subjects[i]);
  }
  const feats = templateFeatures(imageFeatures, dim, templates, medias, chosen.templates, options.missing);
  const have = new Set(feats.ids);
  const lacking = [...firstSubject.keys()].filter((t) => !have.has(t));
  const absent = lacking.filter((t) => !options.withoutImages?.has(t));
  if (absent.length > 0) {
    throw new EvalError('DATASET_FORMAT', `1:N: template(s) ${absent.slice(0, 5).join(', ')} of the gallery/probe list have no image in the face/template/media list`);
  }
  return { ...feats, subjects: Int32Array.from(feats.ids, (t) => firstSubject.get(t) as number), excluded: lacking.sort((a, b) => a - b) };
}

/** Concatenation of the gallery csvs (G1 then G2). */
export function concatSets(sets: readonly TemplateSet[]): TemplateSet {
  const n = sets.reduce((s, x) => s + x.templates.length, 0);
  const templates = new Int32Array(n);
  const subjects = new Int32Array(n);
  let o = 0;
  for (const s of sets) {
    templates.set(s.templates, o);
    subjects.set(s.subjects, o);
    o += s.templates.length;
  }
  return { templates, subjects };
}

export interface IdentificationResult {
  probes: number;
  gallery: number;
  /**
   * Left out under --on-bad-image skip: gallery templates with no image left, and probes with
   * no image left or whose subject's gallery template was left out (the protocol needs exactly
   * one mate per probe).
   */
  excludedGallery: number;
  excludedProbes: number;
  /** Percentages. */
  top: Record<string, number>;
  /** Percentages keyed by FPIR ("0.01", "0.1"), with the score threshold used. */
  tpirAtFpir: Record<string, number>;
  thresholds: Record<string, number>;
  /** CMC: percentage of probes with the mate within rank r, r = 1..cmc.length. */
  cmc: number[];
}

export function evaluateIdentification(probe: IdentificationSet, gallery: IdentificationSet, maxRank = 10): IdentificationResult {
  const dim = probe.dim;
  if (gallery.dim !== dim) throw new EvalError('FEATURE_DIMENSION', `1:N: probe dimension ${dim}, gallery ${gallery.dim}`);
  const nq = probe.ids.length;
  const ng = gallery.ids.length;
  if (nq === 0 || ng === 0) throw new EvalError('METRIC_UNDEFINED', `1:N: ${nq} probe and ${ng} gallery templates`);
  // gen_mask: the one gallery template of each probe's subject.
  const gallerySubject = new Map<number, number[]>();
  gallery.subjects.forEach((s, j) => gallerySubject.set(s, [...(gallerySubject.get(s) ?? []), j]));
  const mask = Int32Array.from(probe.subjects, (s) => {
    const pos = gallerySubject.get(s) ?? [];
    if (pos.length !== 1) {
      throw new EvalError('METRIC_UNDEFINED', `1:N: probe subject ${s} has ${pos.length} gallery templates; the protocol needs exactly one`, {
        details: { subject: s, galleryTemplates: pos.length },
      });
    }
    return pos[0];
  });

  const required = FPIR_TARGETS.map((f) => farRank(nq, f));
  const negatives = new TopKLargest(Math.max(...required));
  const mateScores = new Float64Array(nq);
  const rankCounts = new Float64Array(maxRank);
  const row = new Float64Array(ng);
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < ng; j++) row[j] = dotPairwise(probe.features, i * dim, gallery.features, j * dim, dim);
    const gt = mask[i];
    const mate = row[gt];
    mateScores[i] = mate;
    // Rank of the mate in a stable descending sort: better scores, and equal ones earlier.
    let rank = 0;
    for (let j = 0; j < ng; j++) {
      if (j === gt) continue;
      if (row[j] > mate || (row[j] === mate && j < gt)) rank++;
      negatives.push(row[j]);
    }
    if (rank < maxRank) rankCounts[rank]++;
  }
  const cmc: number[] = [];
  let cum = 0;
  for (let r = 0; r < maxRank; r++) {
    cum += rankCounts[r];
    cmc.push((cum / nq) * 100);
  }
  const top: Record<string, number> = {};
  for (const k of TOP_K) if (k <= maxRank) top[`top${k}`] = cmc[k - 1];
  const neg = negatives.sorted();
  const tpirAtFpir: Record<string, number> = {};
  const thresholds: Record<string, number> = {};
  FPIR_TARGETS.forEach((fpir, idx) => {
    const k = required[idx];
    if (k < 1 || k > neg.length) {
      throw new EvalError('METRIC_UNDEFINED', `1:N: FPIR ${fpir} needs the ${k}-th largest non-mate score, there are ${neg.length}`);
    }
    const th = neg[k - 1];
    let hits = 0;
    for (let i = 0; i < nq; i++) if (mateScores[i] > th) hits++;
    tpirAtFpir[String(fpir)] = (hits / nq) * 100;
    thresholds[String(fpir)] = th;
  });
  return { probes: nq, gallery: ng, excludedGallery: 0, excludedProbes: 0, top, tpirAtFpir, thresholds, cmc };
}

/** IJB 1:N from the loaded image set and the gallery/probe csv files. */
export async function runIjbIdentification(set: IjbImageSet): Promise<IdentificationResult> {
  const paths = ijbMetaPaths(set.dataDir, set.target);
  const galleryRows = concatSets(await Promise.all(paths.gallery.map((p) => readTemplateSubjects(p))));
  const probeRows = await readTemplateSubjects(paths.probe);
  const options = { missing: set.missing, withoutImages: templatesWithoutImages(set) };
  const gallery = identificationSet(set.weighted, set.dim, set.templates, set.medias, galleryRows, options);
  const probes = identificationSet(set.weighted, set.dim, set.templates, set.medias, probeRows, options);
  let probe: IdentificationSet = probes;
  let excludedProbes = probes.excluded.length;
  if (gallery.excluded.length > 0) {
    // A probe whose subject lost its gallery template has no mate to find: left out, counted.
    const subjects = new Set(gallery.subjects);
    const keep = Array.from(probe.subjects, (s) => subjects.has(s));
    excludedProbes += keep.filter((k) => !k).length;
    probe = keepRows(probe, keep);
  }
  const result = evaluateIdentification(probe, gallery);
  return { ...result, excludedGallery: gallery.excluded.length, excludedProbes };
}

function keepRows(set: IdentificationSet, keep: boolean[]): IdentificationSet {
  const rows = keep.flatMap((k, i) => (k ? [i] : []));
  const features = new Float64Array(rows.length * set.dim);
  rows.forEach((r, j) => features.set(set.features.subarray(r * set.dim, (r + 1) * set.dim), j * set.dim));
  return { ids: Int32Array.from(rows, (r) => set.ids[r]), subjects: Int32Array.from(rows, (r) => set.subjects[r]), features, dim: set.dim };
}
