// IJB-B/C 1:N identification, as InsightFace's recognition/_evaluation_/ijb/ijb_1n.py computes it:
//   gallery = G1 union G2 templates (one per subject), probes = the mixed probe templates, both
//   aggregated like 1:1 (templateFeatures) over every image of the template;
//   similarity = dot product; Top-k = fraction of probes whose mate is among the k best;
//   TPIR@FPIR: k = ceil(n_probes * FPIR), threshold = the k-th largest non-mate score over all
//   probe x gallery pairs, TPIR = fraction of probes whose mate score is above it.
// Ties in the ranking keep gallery order (the reference sorts with an unstable quicksort, which
// only matters for exactly equal scores).
import { EvalError } from './eval-error.js';
import { templateFeatures, type IjbImageSet, type TemplateFeatures } from './ijbc.js';
import { ijbMetaPaths, readTemplateSubjects } from './ijbc-meta.js';
import { dotPairwise } from './numeric.js';

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

/** np.unique(choose_templates, return_index=True): sorted template ids, subject of the first row. */
export function identificationSet(
  imageFeatures: Float64Array,
  dim: number,
  templates: Int32Array,
  medias: Int32Array,
  chosen: TemplateSet,
): IdentificationSet {
  const firstSubject = new Map<number, number>();
  for (let i = 0; i < chosen.templates.length; i++) {
    if (!firstSubject.has(chosen.templates[i])) firstSubject.set(chosen.templates[i], chosen.subjects[i]);
  }
  const feats = templateFeatures(imageFeatures, dim, templates, medias, chosen.templates);
  if (feats.ids.length !== firstSubject.size) {
    const have = new Set(feats.ids);
    const missing = [...firstSubject.keys()].filter((t) => !have.has(t)).slice(0, 5);
    throw new EvalError('DATASET_FORMAT', `1:N: template(s) ${missing.join(', ')} of the gallery/probe list have no image in the face/template/media list`);
  }
  return { ...feats, subjects: Int32Array.from(feats.ids, (t) => firstSubject.get(t) as number) };
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
  /** Percentages. */
  top: Record<string, number>;
  /** Percentages keyed by FPIR ("0.01", "0.1"), with the score threshold used. */
  tpirAtFpir: Record<string, number>;
  thresholds: Record<string, number>;
  /** CMC: percentage of probes with the mate within rank r, r = 1..cmc.length. */
  cmc: number[];
}

/** A binary min-heap holding the k largest values seen. */
export class TopKLargest {
  private readonly heap: Float64Array;
  size = 0;
  constructor(readonly k: number) {
    this.heap = new Float64Array(Math.max(1, k));
  }
  /** The smallest kept value (the k-th largest once full), -Infinity before. */
  get floor(): number {
    return this.size < this.k ? -Infinity : this.heap[0];
  }
  push(v: number): void {
    const h = this.heap;
    if (this.size < this.k) {
      let i = this.size++;
      h[i] = v;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (h[p] <= h[i]) break;
        [h[p], h[i]] = [h[i], h[p]];
        i = p;
      }
      return;
    }
    if (v <= h[0]) return;
    h[0] = v;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.size && h[l] < h[m]) m = l;
      if (r < this.size && h[r] < h[m]) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
  /** Kept values, largest first. */
  sorted(): Float64Array {
    return Float64Array.from(this.heap.subarray(0, this.size)).sort().reverse();
  }
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
      throw new EvalError('METRIC_UNDEFINED', `1:N: probe subject ${s} has ${pos.length} gallery templates; the protocol needs exactly one`);
    }
    return pos[0];
  });

  const required = FPIR_TARGETS.map((f) => Math.ceil(nq * f));
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
  return { probes: nq, gallery: ng, top, tpirAtFpir, thresholds, cmc };
}

/** IJB 1:N from the loaded image set and the gallery/probe csv files. */
export async function runIjbIdentification(set: IjbImageSet): Promise<IdentificationResult> {
  const paths = ijbMetaPaths(set.dataDir, set.target);
  const galleryRows = concatSets(await Promise.all(paths.gallery.map((p) => readTemplateSubjects(p))));
  const probeRows = await readTemplateSubjects(paths.probe);
  const gallery = identificationSet(set.weighted, set.dim, set.templates, set.medias, galleryRows);
  const probe = identificationSet(set.weighted, set.dim, set.templates, set.medias, probeRows);
  return evaluateIdentification(probe, gallery);
}
