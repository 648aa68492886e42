// LFW verification, as InsightFace's arcface_torch/eval/verification.py computes it:
// features = normalize(f(img) + f(flip)); distance = squared L2; 10 contiguous folds (KFold,
// no shuffle); per fold the threshold in arange(0, 4, 0.01) with the best accuracy on the other
// nine ("same" when distance < threshold, first best on ties) is applied to the held-out fold;
// accuracy = mean and population std over folds. VAL@FAR=1e-3: thresholds arange(0, 4, 0.001),
// the threshold at FAR 1e-3 on the training folds interpolated as scipy's interp1d(kind='slinear')
// does (0 when that FAR is never reached), VAL and FAR measured on the held-out fold.
import { join } from 'node:path';

import { readDatasetText, readOptionalText } from './dataset-file.js';
import { EvalError } from './eval-error.js';
import type { FeatureSource } from './feature-source.js';
import { meanStd, normalizeRows, pairwiseSum } from './numeric.js';

export interface LfwPair {
  /** Image paths relative to the dataset root: name/name_0001.jpg. */
  a: string;
  b: string;
  same: boolean;
}

export interface LfwPairList {
  pairs: LfwPair[];
  /** Folds declared by the header line ("10<TAB>300"), 10 when absent. */
  folds: number;
}

export interface LfwFold {
  /** The threshold chosen on the other folds, and the accuracy it gives on this one. */
  threshold: number;
  accuracy: number;
  /** VAL@FAR: threshold at the target FAR on the other folds; VAL and FAR on this fold. */
  valThreshold: number;
  val: number;
  far: number;
}

export interface LfwResult {
  pairs: number;
  folds: LfwFold[];
  accuracy: { mean: number; std: number };
  valAtFar: { target: number; val: number; valStd: number; far: number };
  /** Mean over folds of the held-out TPR/FPR at each threshold of arange(0, 4, 0.01) (the ROC). */
  roc: { thresholds: Float64Array; tpr: Float64Array; fpr: Float64Array };
  /** Cosine similarity (1 - d/2) of every different-person pair, ascending (for calibration). */
  impostorScores: Float64Array;
  /**
   * Pairs left out because an image of theirs was skipped (--on-bad-image skip): each fold keeps
   * its place in the pair list (folds are still contiguous blocks of the full list) and loses
   * them from its training and test sets.
   */
  excludedPairs: number;
}

/** name/name_%04d.jpg, the LFW layout. */
export function lfwImagePath(name: string, n: number): string {
  return `${name}/${name}_${String(n).padStart(4, '0')}.jpg`;
}

/** Parses pairs.txt: a header "folds<TAB>n", then 3-field (same) and 4-field (different) lines. */
export function parseLfwPairs(text: string, where = 'pairs.txt'): LfwPairList {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) throw new EvalError('DATASET_FORMAT', `${where} is empty`);
  let folds = 10;
  let start = 0;
  const header = lines[0].split(/\s+/);
  if (header.length <= 2 && header.every((f) => /^\d+$/.test(f))) {
    if (header.length === 2) folds = Number(header[0]);
    start = 1;
  }
  const pairs: LfwPair[] = [];
  for (let i = start; i < lines.length; i++) {
    const f = lines[i].split(/\s+/);
    if (f.length === 3 && isInt(f[1]) && isInt(f[2])) {
      pairs.push({ a: lfwImagePath(f[0], Number(f[1])), b: lfwImagePath(f[0], Number(f[2])), same: true });
    } else if (f.length === 4 && isInt(f[1]) && isInt(f[3])) {
      pairs.push({ a: lfwImagePath(f[0], Number(f[1])), b: lfwImagePath(f[2], Number(f[3])), same: false });
    } else {
      throw new EvalError('DATASET_FORMAT', `${where}:${i + 1}: "${lines[i]}" is neither "name n1 n2" nor "name1 n1 name2 n2"`, { details: { file: where, line: i + 1 } });
    }
  }
  if (folds < 2) throw new EvalError('DATASET_FORMAT', `${where}: ${folds} folds; cross-validation needs at least 2`);
  if (pairs.length < folds) throw new EvalError('DATASET_FORMAT', `${where}: ${pairs.length} pairs for ${folds} folds`);
  return { pairs, folds };
}

export async function readLfwPairs(path: string): Promise<LfwPairList> {
  return parseLfwPairs(await readDatasetText(path, 'an LFW folder holds pairs.txt and <name>/<name>_0001.jpg images'), path);
}

function isInt(s: string): boolean {
  return /^\d+$/.test(s);
}

/** np.arange(start, stop, step): start + i * step, ceil((stop - start) / step) values. */
export function arange(start: number, stop: number, step: number): Float64Array {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(n);
  const delta = start + step - start;
  for (let i = 0; i < n; i++) out[i] = start + i * delta;
  return out;
}

/** sklearn KFold(n_splits, shuffle=False): contiguous test folds, the first n % k one longer. */
export function kFoldRanges(n: number, k: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    ranges.push([start, start + size]);
    start += size;
  }
  return ranges;
}

/**
 * Squared L2 distance between the normalized features of each pair.
 * feats1/feats2: row i is the flip-summed feature of pair i's first/second image (float64).
 */
export function lfwDistances(feats1: Float64Array, feats2: Float64Array, dim: number): Float64Array {
  const a = normalizeRows(Float64Array.from(feats1), dim);
  const b = normalizeRows(Float64Array.from(feats2), dim);
  const n = a.length / dim;
  const dist = new Float64Array(n);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let k = 0; k < dim; k++) {
      const d = a[o + k] - b[o + k];
      sq[k] = d * d;
    }
    dist[i] = pairwiseSum(sq, 0, dim);
  }
  return dist;
}

interface Counts { tp: number; fp: number; tn: number; fn: number }

function counts(dist: Float64Array, same: Uint8Array, idx: Int32Array, threshold: number): Counts {
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j];
    const predicted = dist[i] < threshold;
    if (same[i]) { if (predicted) tp++; else fn++; }
    else if (predicted) fp++; else tn++;
  }
  return { tp, fp, tn, fn };
}

/** verification.py's calculate_accuracy: (tpr, fpr, acc). */
function accuracyAt(dist: Float64Array, same: Uint8Array, idx: Int32Array, threshold: number): { tpr: number; fpr: number; acc: number } {
  const c = counts(dist, same, idx, threshold);
  return {
    tpr: c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn),
    fpr: c.fp + c.tn === 0 ? 0 : c.fp / (c.fp + c.tn),
    acc: (c.tp + c.tn) / idx.length,
  };
}

/** verification.py's calculate_val_far: (val, far); divides by zero like NumPy would (NaN/Inf). */
function valFarAt(dist: Float64Array, same: Uint8Array, idx: Int32Array, threshold: number): { val: number; far: number } {
  const c = counts(dist, same, idx, threshold);
  return { val: c.tp / (c.tp + c.fn), far: c.fp / (c.fp + c.tn) };
}

/**
 * scipy.interpolate.interp1d(x, y, kind='slinear')(target) for non-decreasing x with repeats:
 * a degree-1 B-spline with knots [x0, x, x_last] evaluated by de Boor, whose interval search
 * takes the last knot <= target (capped at the last interval).
 */
export function interpSlinear(x: Float64Array, y: Float64Array, target: number): number {
  const n = x.length;
  if (n < 2) throw new EvalError('METRIC_UNDEFINED', 'interp1d needs at least 2 points');
  if (target < x[0] || target > x[n - 1]) {
    throw new EvalError('METRIC_UNDEFINED', `interp1d: ${target} is outside [${x[0]}, ${x[n - 1]}]`);
  }
  // Knots t = [x0, x0, x1, ..., x_{n-1}, x_{n-1}] (t[j + 1] = x[j]); find l in [1, n - 1] with
  // t[l] <= target < t[l + 1], or l = n - 1 when target equals the last knot.
  let l = 1;
  while (l < n && target >= x[l]) l++;
  // now x[l - 1] <= target < x[l] (or l = n): interval [t[l], t[l + 1]) = [x[l - 1], x[l]]
  if (l === n) l = n - 1;
  const xa = x[l - 1];
  const xb = x[l];
  if (xb === xa) return 0; // de Boor's zero-length interval: both basis values are 0
  const w = 1 / (xb - xa);
  const h0 = w * (xb - target);
  const h1 = w * (target - xa);
  return y[l - 1] * h0 + y[l] * h1;
}

/**
 * The LFW protocol on pair distances (squared L2 of normalized features), pairs in file order.
 */
export function evaluateLfwDistances(dist: Float64Array, same: ArrayLike<boolean>, nFolds = 10, farTarget = 1e-3, excluded?: Uint8Array): LfwResult {
  const n = dist.length;
  if (same.length !== n) throw new EvalError('METRIC_UNDEFINED', `lfw: ${same.length} labels for ${n} distances`);
  const kept = (i: number): boolean => !excluded?.[i];
  const sameU8 = Uint8Array.from(Array.from({ length: n }, (_, i) => (same[i] ? 1 : 0)));
  const accThresholds = arange(0, 4, 0.01);
  const valThresholds = arange(0, 4, 0.001);
  const ranges = kFoldRanges(n, nFolds);
  const folds: LfwFold[] = [];
  const tprSum = new Float64Array(accThresholds.length);
  const fprSum = new Float64Array(accThresholds.length);
  const tprRows: Float64Array[] = [];
  const fprRows: Float64Array[] = [];
  for (const [lo, hi] of ranges) {
    const test = Int32Array.from({ length: hi - lo }, (_, j) => lo + j).filter(kept);
    const train = Int32Array.from({ length: n - (hi - lo) }, (_, j) => (j < lo ? j : j + (hi - lo))).filter(kept);

    // argmax: the first threshold with the best training accuracy.
    let best = 0;
    let bestAcc = -Infinity;
    for (let t = 0; t < accThresholds.length; t++) {
      const acc = accuracyAt(dist, sameU8, train, accThresholds[t]).acc;
      if (acc > bestAcc) {
        bestAcc = acc;
        best = t;
      }
    }
    const tprRow = new Float64Array(accThresholds.length);
    const fprRow = new Float64Array(accThresholds.length);
    for (let t = 0; t < accThresholds.length; t++) {
      const r = accuracyAt(dist, sameU8, test, accThresholds[t]);
      tprRow[t] = r.tpr;
      fprRow[t] = r.fpr;
    }
    tprRows.push(tprRow);
    fprRows.push(fprRow);
    const accuracy = accuracyAt(dist, sameU8, test, accThresholds[best]).acc;

    const farTrain = new Float64Array(valThresholds.length);
    let maxFar = -Infinity;
    for (let t = 0; t < valThresholds.length; t++) {
      farTrain[t] = valFarAt(dist, sameU8, train, valThresholds[t]).far;
      if (farTrain[t] > maxFar) maxFar = farTrain[t];
    }
    const valThreshold = maxFar >= farTarget ? interpSlinear(farTrain, valThresholds, farTarget) : 0;
    const { val, far } = valFarAt(dist, sameU8, test, valThreshold);
    folds.push({ threshold: accThresholds[best], accuracy, valThreshold, val, far });
  }
  // np.mean(tprs, 0): a column mean over folds (sequential sum over the fold axis, then / k).
  for (const row of tprRows) for (let t = 0; t < row.length; t++) tprSum[t] += row[t];
  for (const row of fprRows) for (let t = 0; t < row.length; t++) fprSum[t] += row[t];
  for (let t = 0; t < tprSum.length; t++) {
    tprSum[t] /= nFolds;
    fprSum[t] /= nFolds;
  }
  const impostorScores = Float64Array.from(Array.from(dist).filter((_, i) => !sameU8[i] && kept(i)), (d) => 1 - d / 2).sort();
  let excludedPairs = 0;
  for (let i = 0; i < n; i++) if (!kept(i)) excludedPairs++;
  const acc = meanStd(folds.map((f) => f.accuracy));
  const val = meanStd(folds.map((f) => f.val));
  const far = meanStd(folds.map((f) => f.far));
  return {
    pairs: n,
    folds,
    accuracy: acc,
    valAtFar: { target: farTarget, val: val.mean, valStd: val.std, far: far.mean },
    roc: { thresholds: accThresholds, tpr: tprSum, fpr: fprSum },
    impostorScores,
    excludedPairs,
  };
}

/**
 * Optional <data>/landmarks.txt: "relative/path x1 y1 ... x5 y5" (or 68 points) per line, for
 * LFW images that are not aligned yet (LFW ships no landmarks; lfw.bin and most LFW copies used
 * for evaluation are aligned 112x112 crops, which are used as they are).
 */
export async function readLandmarksFile(path: string): Promise<Map<string, Float64Array> | undefined> {
  const text = await readOptionalText(path);
  if (text === undefined) return undefined;
  const out = new Map<string, Float64Array>();
  text.split(/\r?\n/).forEach((line, i) => {
    const f = line.trim().split(/\s+/);
    if (f.length === 1 && f[0] === '') return;
    const values = f.slice(1).map(Number);
    if ((values.length !== 10 && values.length !== 136) || values.some((v) => !Number.isFinite(v))) {
      throw new EvalError('DATASET_FORMAT', `${path}:${i + 1}: expected "path" then 10 (5 points) or 136 (68 points) numbers`);
    }
    out.set(f[0], Float64Array.from(values));
  });
  return out;
}

/** LFW from pairs.txt and the images (or their features) under dataDir. */
export async function runLfw(dataDir: string, source: FeatureSource, onProgress?: (n: number, total: number) => void): Promise<LfwResult> {
  const list = await readLfwPairs(join(dataDir, 'pairs.txt'));
  const landmarks = await readLandmarksFile(join(dataDir, 'landmarks.txt'));
  const index = new Map<string, number>();
  for (const p of list.pairs) for (const img of [p.a, p.b]) if (!index.has(img)) index.set(img, index.size);
  const images = [...index.keys()];
  const { data, dim, missing } = await source.features(
    images.map((image) => ({ image, feature: image, landmarks: landmarks?.get(image) })),
    'sum',
    onProgress,
  );
  const n = list.pairs.length;
  const f1 = new Float64Array(n * dim);
  const f2 = new Float64Array(n * dim);
  list.pairs.forEach((p, i) => {
    const a = index.get(p.a) as number;
    const b = index.get(p.b) as number;
    f1.set(data.subarray(a * dim, a * dim + dim), i * dim);
    f2.set(data.subarray(b * dim, b * dim + dim), i * dim);
  });
  const excluded = missing ? Uint8Array.from(list.pairs, (p) => (missing[index.get(p.a) as number] || missing[index.get(p.b) as number] ? 1 : 0)) : undefined;
  return evaluateLfwDistances(lfwDistances(f1, f2, dim), list.pairs.map((p) => p.same), list.folds, 1e-3, excluded);
}
