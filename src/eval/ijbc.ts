// IJB-B/C 1:1 verification, as InsightFace's recognition/_evaluation_/ijb/ijb_onnx.py computes it:
//   image feature  = f(img) + f(flip), not normalized (float64), times the detector score;
//   media feature  = the image feature (one image) or the mean of the media's images;
//   template       = SUM of its media features (medias in ascending id order), L2-normalized;
//   pair score     = dot product of the two template features;
//   TAR@FAR        = scikit-learn roc_curve + nearest-FPR rule (roc.ts), x100.
// Summation orders follow NumPy's (sequential over rows, pairwise within a row), so scores equal
// the reference's to the last bit wherever NumPy's order is documented.
import { EvalError } from './eval-error.js';
import type { FeatureSource } from './feature-source.js';
import { ijbMetaPaths, readFaceTidMid, readNameLandmarksScore, streamTemplatePairs, type IjbTarget } from './ijbc-meta.js';
import { dotPairwise, normalizeRows } from './numeric.js';
import { IJB_FAR_TARGETS, pythonFloatLabel, rocAuc, rocFromScores, tprAtFpr, type RocCurve } from './roc.js';

export interface TemplateFeatures {
  /** Sorted ascending (np.unique). */
  ids: Int32Array;
  /** ids.length x dim, rows L2-normalized. */
  features: Float64Array;
  dim: number;
}

/**
 * image2template_feature: groups images (rows of `imageFeatures`, already weighted) by
 * template, then by media. `only` restricts the output to these template ids (1:N gallery or
 * probes); every image of such a template is used, wherever it appears in the list. Images
 * marked in `missing` (skipped) are left out; a template left with none has no feature.
 */
export function templateFeatures(
  imageFeatures: Float64Array,
  dim: number,
  templates: Int32Array,
  medias: Int32Array,
  only?: Int32Array,
  missing?: Uint8Array,
): TemplateFeatures {
  const n = templates.length;
  if (imageFeatures.length !== n * dim || medias.length !== n) {
    throw new EvalError('FEATURE_DIMENSION', `templates: ${imageFeatures.length / dim} image features for ${n} template rows`);
  }
  // Images of each template in list order (np.where(templates == uqt)).
  const order = Int32Array.from({ length: n }, (_, i) => i)
    .filter((i) => !missing?.[i])
    .sort((a, b) => templates[a] - templates[b] || a - b);
  const wanted = only ? new Set(only) : undefined;
  const ids: number[] = [];
  const rows: Float64Array[] = [];
  let start = 0;
  const acc = new Float64Array(dim);
  const media = new Float64Array(dim);
  const rowsLeft = order.length;
  while (start < rowsLeft) {
    const tid = templates[order[start]];
    let end = start;
    while (end < rowsLeft && templates[order[end]] === tid) end++;
    if (!wanted || wanted.has(tid)) {
      // Medias in ascending id order; images within a media in list order (stable sort).
      const imgs = Array.from(order.subarray(start, end)).sort((a, b) => medias[a] - medias[b] || a - b);
      acc.fill(0);
      let m = 0;
      while (m < imgs.length) {
        const mid = medias[imgs[m]];
        let e = m;
        while (e < imgs.length && medias[imgs[e]] === mid) e++;
        const ct = e - m;
        if (ct === 1) {
          media.set(imageFeatures.subarray(imgs[m] * dim, imgs[m] * dim + dim));
        } else {
          // np.mean(axis=0): sequential sum over the rows, then divided by the count.
          media.fill(0);
          for (let j = m; j < e; j++) {
            const o = imgs[j] * dim;
            for (let k = 0; k < dim; k++) media[k] += imageFeatures[o + k];
          }
          for (let k = 0; k < dim; k++) media[k] /= ct;
        }
        for (let k = 0; k < dim; k++) acc[k] += media[k];
        m = e;
      }
      ids.push(tid);
      rows.push(Float64Array.from(acc));
    }
    start = end;
  }
  const features = new Float64Array(ids.length * dim);
  rows.forEach((r, i) => features.set(r, i * dim));
  normalizeRows(features, dim);
  return { ids: Int32Array.from(ids), features, dim };
}

/**
 * Image feature x detector score (ijb_11.py's use_detector_score), one row per image.
 * In place by default: IJB-C's 469k x 512 float64 features are 1.9 GB, one copy is enough.
 */
export function weightByDetectorScore(imageFeatures: Float64Array, dim: number, scores: Float32Array, inPlace = true): Float64Array {
  const n = scores.length;
  if (imageFeatures.length !== n * dim) {
    throw new EvalError('FEATURE_DIMENSION', `${imageFeatures.length / dim} image features for ${n} detector scores`);
  }
  const out = inPlace ? imageFeatures : new Float64Array(imageFeatures.length);
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    for (let k = 0; k < dim; k++) out[i * dim + k] = imageFeatures[i * dim + k] * s;
  }
  return out;
}

/** Template id -> row, as a dense table (the reference's template2id). */
export function templateIndex(ids: Int32Array): Int32Array {
  let max = 0;
  for (const id of ids) if (id > max) max = id;
  const table = new Int32Array(max + 1).fill(-1);
  ids.forEach((id, i) => (table[id] = i));
  return table;
}

export interface PairScores {
  genuine: Float64Array;
  impostor: Float64Array;
  pairs: number;
  /** Pairs not scored: a template of theirs lost every image (--on-bad-image skip). */
  excludedPairs: number;
}

class GrowableF64 {
  data = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/**
 * Scores the pair list in a streaming pass: dot products of normalized template features,
 * split into genuine (label 1) and impostor (label 0) scores.
 */
export async function scoreTemplatePairs(
  pairListPath: string,
  templates: TemplateFeatures,
  onProgress?: (pairs: number) => void,
  withoutFeatures: ReadonlySet<number> = new Set(),
): Promise<PairScores> {
  const table = templateIndex(templates.ids);
  const { features, dim } = templates;
  const genuine = new GrowableF64();
  const impostor = new GrowableF64();
  let excludedPairs = 0;
  const rowOf = (tid: number): number => {
    const r = tid >= 0 && tid < table.length ? table[tid] : -1;
    if (r < 0) {
      throw new EvalError('DATASET_FORMAT', `${pairListPath}: template ${tid} has no image in the face/template/media list`);
    }
    return r;
  };
  const pairs = await streamTemplatePairs(pairListPath, (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      if (withoutFeatures.size > 0 && (withoutFeatures.has(chunk.t1[i]) || withoutFeatures.has(chunk.t2[i]))) {
        excludedPairs++;
        continue;
      }
      const a = rowOf(chunk.t1[i]) * dim;
      const b = rowOf(chunk.t2[i]) * dim;
      const s = dotPairwise(features, a, features, b, dim);
      if (chunk.label[i] === 1) genuine.push(s);
      else impostor.push(s);
    }
    onProgress?.(chunk.length);
  });
  return { genuine: genuine.view(), impostor: impostor.view(), pairs, excludedPairs };
}

export interface IjbcVerificationResult {
  pairs: number;
  /** Pairs of the list left out: a template of theirs has no image left (--on-bad-image skip). */
  excludedPairs: number;
  /** Those templates. */
  templatesWithoutImages: number[];
  genuine: number;
  impostor: number;
  /** TPR x 100 keyed by Python's str(FAR): "1e-06" ... "0.1". */
  tarAtFar: Record<string, number>;
  auc: number;
  roc: RocCurve;
  /** The impostor scores, ascending (for calibration; not part of the JSON output). */
  impostorScores: Float64Array;
}

/** TAR@FAR table from the genuine and impostor scores (which are sorted in place). */
export function verificationTable(scores: PairScores): IjbcVerificationResult {
  const roc = rocFromScores(scores.genuine, scores.impostor);
  const tprs = tprAtFpr(roc, IJB_FAR_TARGETS);
  const tarAtFar: Record<string, number> = {};
  IJB_FAR_TARGETS.forEach((far, i) => (tarAtFar[pythonFloatLabel(far)] = tprs[i] * 100));
  return {
    pairs: scores.pairs,
    excludedPairs: scores.excludedPairs,
    templatesWithoutImages: [],
    genuine: roc.positives,
    impostor: roc.negatives,
    tarAtFar,
    auc: rocAuc(roc),
    roc,
    impostorScores: scores.impostor,
  };
}


/** The per-image features of an IJB dataset, weighted by the detector score, with its meta. */
export interface IjbImageSet {
  dataDir: string;
  target: IjbTarget;
  templates: Int32Array;
  medias: Int32Array;
  /** images x dim, f(img) + f(flip) times the detector score. */
  weighted: Float64Array;
  dim: number;
  /** Rows whose image name differs between the two meta files (the reference pairs rows by position). */
  nameMismatches: number;
  /** 1 for each image skipped (--on-bad-image skip); absent when none was. */
  missing?: Uint8Array;
}

/** Templates of the list all of whose images were skipped. */
export function templatesWithoutImages(set: Pick<IjbImageSet, 'templates' | 'missing'>): Set<number> {
  const out = new Set<number>();
  if (!set.missing) return out;
  const withImage = new Set<number>();
  set.templates.forEach((t, i) => {
    if (!set.missing?.[i]) withImage.add(t);
  });
  for (const t of set.templates) if (!withImage.has(t)) out.add(t);
  return out;
}

/**
 * Reads the meta files and the image features. Rows of ijbc_face_tid_mid.txt and
 * ijbc_name_5pts_score.txt are paired by position, as ijb_11.py does.
 */
export async function loadIjbImages(
  dataDir: string,
  source: FeatureSource,
  options: { target?: IjbTarget; onProgress?: (n: number, total: number) => void } = {},
): Promise<IjbImageSet> {
  const target = options.target ?? 'ijbc';
  const paths = ijbMetaPaths(dataDir, target);
  const tm = await readFaceTidMid(paths.faceTidMid);
  const ls = await readNameLandmarksScore(paths.nameLandmarksScore);
  if (tm.names.length !== ls.names.length) {
    throw new EvalError(
      'DATASET_FORMAT',
      `${paths.faceTidMid} has ${tm.names.length} images but ${paths.nameLandmarksScore} has ${ls.names.length}; the two lists must describe the same images in the same order`,
    );
  }
  let nameMismatches = 0;
  for (let i = 0; i < tm.names.length; i++) if (tm.names[i] !== ls.names[i]) nameMismatches++;
  const requests = ls.names.map((name, i) => ({
    image: `${paths.imageDir}/${name}`,
    feature: `${paths.imageDir}/${name}`,
    landmarks: ls.landmarks.subarray(i * 10, i * 10 + 10),
  }));
  const { data, dim, missing } = await source.features(requests, 'sum', options.onProgress);
  return {
    dataDir,
    target,
    templates: tm.templates,
    medias: tm.medias,
    weighted: weightByDetectorScore(data, dim, ls.scores),
    dim,
    nameMismatches,
    ...(missing ? { missing } : {}),
  };
}

/** IJB 1:1: template features, streamed pair scores, TAR@FAR table. */
export async function runIjbVerification(set: IjbImageSet, onProgress?: (pairs: number) => void): Promise<IjbcVerificationResult> {
  const feats = templateFeatures(set.weighted, set.dim, set.templates, set.medias, undefined, set.missing);
  const without = templatesWithoutImages(set);
  const scores = await scoreTemplatePairs(ijbMetaPaths(set.dataDir, set.target).templatePairLabel, feats, onProgress, without);
  return { ...verificationTable(scores), templatesWithoutImages: [...without].sort((a, b) => a - b) };
}
