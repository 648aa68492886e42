// ROC exactly as scikit-learn's roc_curve computes it by default, and TPR at a FAR by the
// nearest-point rule of InsightFace's ijb_11.py.
//   _binary_clf_curve: one point per distinct score, scores descending; tps/fps cumulative.
//   drop_intermediate=True: keep the first and last points and every point where the second
//   difference of fps or of tps is non-zero (collinear points are dropped); then (0, 0) first.
//   fpr = fps / fps[-1], tpr = tps / tps[-1].
// Scores are split by label and sorted separately (typed-array sort), then merged, so 15.7M
// IJB-C pairs sort in a few seconds and the raw curve is thinned while it is generated.
import { EvalError } from './eval-error.js';

export interface RocCurve {
  /** Ascending, starting at 0. */
  fpr: Float64Array;
  tpr: Float64Array;
  /** Descending; thresholds[0] = Infinity (scikit-learn >= 1.3 convention). */
  thresholds: Float64Array;
  /** Counts behind the rates. */
  tps: Float64Array;
  fps: Float64Array;
  positives: number;
  negatives: number;
}

/** The FAR points of the IJB-B/C 1:1 table (ijb_11.py x_labels). */
export const IJB_FAR_TARGETS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1] as const;

/** labels: 1 = genuine (positive), 0 = impostor; scores: higher = more similar. */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>, dropIntermediate = true): RocCurve {
  if (labels.length !== scores.length) {
    throw new EvalError('METRIC_UNDEFINED', `roc: ${labels.length} labels for ${scores.length} scores`);
  }
  let nPos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) nPos++;
  const pos = new Float64Array(nPos);
  const neg = new Float64Array(labels.length - nPos);
  let p = 0;
  let q = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  return rocFromScores(pos, neg, dropIntermediate);
}

/**
 * The same curve from the genuine and the impostor scores, given separately. The arrays are
 * sorted in place (ascending).
 */
export function rocFromScores(genuine: Float64Array, impostor: Float64Array, dropIntermediate = true): RocCurve {
  for (const arr of [genuine, impostor]) {
    for (let i = 0; i < arr.length; i++) {
      if (Number.isNaN(arr[i])) throw new EvalError('METRIC_UNDEFINED', 'roc: a score is NaN (a zero feature?)');
    }
  }
  genuine.sort();
  impostor.sort();
  const total = genuine.length + impostor.length;
  if (total === 0) throw new EvalError('METRIC_UNDEFINED', 'roc: no scores');

  const outT: number[] = [];
  const outTp: number[] = [];
  const outFp: number[] = [];
  // Raw points are generated in descending score order; a point is emitted once its successor
  // is known (the second difference needs both neighbours).
  let gi = genuine.length - 1;
  let ii = impostor.length - 1;
  let tp = 0;
  let fp = 0;
  let count = 0;
  let prev2Tp = 0, prev2Fp = 0;
  let prevTp = 0, prevFp = 0, prevT = 0;
  while (gi >= 0 || ii >= 0) {
    const s = Math.max(gi >= 0 ? genuine[gi] : -Infinity, ii >= 0 ? impostor[ii] : -Infinity);
    while (gi >= 0 && genuine[gi] === s) { tp++; gi--; }
    while (ii >= 0 && impostor[ii] === s) { fp++; ii--; }
    if (count === 1) {
      outT.push(prevT); outTp.push(prevTp); outFp.push(prevFp);
    } else if (count >= 2) {
      const keep = !dropIntermediate || fp - 2 * prevFp + prev2Fp !== 0 || tp - 2 * prevTp + prev2Tp !== 0;
      if (keep) { outT.push(prevT); outTp.push(prevTp); outFp.push(prevFp); }
    }
    prev2Tp = prevTp; prev2Fp = prevFp;
    prevTp = tp; prevFp = fp; prevT = s;
    count++;
  }
  outT.push(prevT); outTp.push(prevTp); outFp.push(prevFp);
  // scikit-learn applies drop_intermediate only when there are more than 2 raw points; with
  // 2 or fewer every point was kept above anyway.

  const n = outT.length + 1;
  const thresholds = new Float64Array(n);
  const tps = new Float64Array(n);
  const fps = new Float64Array(n);
  thresholds[0] = Infinity;
  for (let k = 1; k < n; k++) {
    thresholds[k] = outT[k - 1];
    tps[k] = outTp[k - 1];
    fps[k] = outFp[k - 1];
  }
  const fpr = new Float64Array(n);
  const tpr = new Float64Array(n);
  const lastFp = fps[n - 1];
  const lastTp = tps[n - 1];
  for (let k = 0; k < n; k++) {
    fpr[k] = fps[k] / lastFp;
    tpr[k] = tps[k] / lastTp;
  }
  return { fpr, tpr, thresholds, tps, fps, positives: genuine.length, negatives: impostor.length };
}

/**
 * TPR at each target FPR by ijb_11.py's rule: reverse the curve, take the point whose FPR is
 * nearest the target; on a tie the first in reversed order (the higher TPR).
 */
export function tprAtFpr(roc: Pick<RocCurve, 'fpr' | 'tpr' | 'negatives' | 'positives'>, targets: readonly number[]): number[] {
  if (roc.negatives === 0) throw new EvalError('METRIC_UNDEFINED', 'TAR@FAR: there is no impostor pair, so no false accept rate');
  if (roc.positives === 0) throw new EvalError('METRIC_UNDEFINED', 'TAR@FAR: there is no genuine pair, so no true accept rate');
  const n = roc.fpr.length;
  return targets.map((target) => {
    let best = n - 1;
    let bestDist = Math.abs(roc.fpr[n - 1] - target);
    for (let k = n - 2; k >= 0; k--) {
      const dist = Math.abs(roc.fpr[k] - target);
      if (dist < bestDist) {
        bestDist = dist;
        best = k;
      }
    }
    return roc.tpr[best];
  });
}

/** Area under the curve by the trapezoidal rule (sklearn.metrics.auc). */
export function rocAuc(roc: Pick<RocCurve, 'fpr' | 'tpr'>): number {
  let area = 0;
  for (let k = 1; k < roc.fpr.length; k++) area += ((roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1])) / 2;
  return area;
}

/** Label of a FAR target as Python's str() writes it: "1e-06", "0.0001", "0.1". */
export function pythonFloatLabel(x: number): string {
  // Python switches to exponent notation below 1e-4, with at least two exponent digits.
  if (x !== 0 && Math.abs(x) < 1e-4) {
    const [mant, exp] = x.toExponential().split('e');
    const e = Number(exp);
    return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(x);
}
