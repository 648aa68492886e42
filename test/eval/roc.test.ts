import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IJB_FAR_TARGETS, pythonFloatLabel, rocCurve, tprAtFpr } from '../../src/eval/roc.js';

test('a hand-worked curve: one point per distinct score, collinear points dropped, (0, 0) first', () => {
  // Scores descending: 0.9 (impostor), 0.8, 0.7, 0.6 (genuine), 0.5 (one of each), 0.1 (impostor).
  // Raw points (fps, tps), one per distinct score: (1,0) (1,1) (1,2) (1,3) (2,4) (3,4).
  // Second differences at points 1..4: fps 0, 0, 1, 0; tps 0, 0, 0, -1
  //   -> points 1 and 2 are dropped; 0, 3, 4 and the last (5) stay; then (0, 0) goes first.
  const labels = [0, 1, 1, 1, 0, 1, 0];
  const scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.1];
  const roc = rocCurve(labels, scores);
  assert.deepEqual(Array.from(roc.fps), [0, 1, 1, 2, 3]);
  assert.deepEqual(Array.from(roc.tps), [0, 0, 3, 4, 4]);
  assert.deepEqual(Array.from(roc.thresholds), [Infinity, 0.9, 0.6, 0.5, 0.1]);
  assert.deepEqual(Array.from(roc.fpr), [0, 1 / 3, 1 / 3, 2 / 3, 1]);
  assert.deepEqual(Array.from(roc.tpr), [0, 0, 0.75, 1, 1]);
});

test('TPR at FPR: nearest point of the reversed curve, the higher TPR on ties', () => {
  const roc = { fpr: Float64Array.from([0, 0, 0.1, 0.1, 1]), tpr: Float64Array.from([0, 0.25, 0.25, 1, 1]), positives: 4, negatives: 10 };
  // 1e-6 .. 1e-2 are nearest to fpr 0 (two points: 0.25 wins over 0); 0.1 hits (0.1, 1) first.
  assert.deepEqual(tprAtFpr(roc, IJB_FAR_TARGETS), [0.25, 0.25, 0.25, 0.25, 0.25, 1]);
  assert.deepEqual(IJB_FAR_TARGETS.map(pythonFloatLabel), ['1e-06', '1e-05', '0.0001', '0.001', '0.01', '0.1']);
});

/** An independent O(n^2) version of roc_curve straight from its definition. */
function bruteRoc(labels: number[], scores: number[]): { fpr: number[]; tpr: number[] } {
  const thresholds = [...new Set(scores)].sort((a, b) => b - a);
  const P = labels.filter((l) => l === 1).length;
  const N = labels.length - P;
  const pts = thresholds.map((t) => {
    let tp = 0;
    let fp = 0;
    scores.forEach((s, i) => {
      if (s >= t) {
        if (labels[i] === 1) tp++;
        else fp++;
      }
    });
    return [fp, tp];
  });
  const keep = pts.filter((p, i) => {
    if (pts.length <= 2 || i === 0 || i === pts.length - 1) return true;
    const [a, b] = [pts[i - 1], pts[i + 1]];
    // a point is dropped when it is the middle of equal steps in both counts (collinear)
    return !(b[0] - p[0] === p[0] - a[0] && b[1] - p[1] === p[1] - a[1]);
  });
  const all = [[0, 0], ...keep];
  return { fpr: all.map((p) => p[0] / N), tpr: all.map((p) => p[1] / P) };
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

test('rocCurve equals a brute-force implementation on random scores with many ties', () => {
  for (let trial = 0; trial < 40; trial++) {
    const r = lcg(trial + 1);
    const n = 5 + Math.floor(r() * 200);
    const labels = Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
    labels[0] = 1;
    labels[1] = 0;
    // Few distinct values, so ties between and within classes are common.
    const scores = labels.map((l) => Math.round((r() + l * 0.3) * 20) / 20);
    const roc = rocCurve(labels, scores);
    const brute = bruteRoc(labels, scores);
    assert.deepEqual(Array.from(roc.fpr), brute.fpr, `trial ${trial} fpr`);
    assert.deepEqual(Array.from(roc.tpr), brute.tpr, `trial ${trial} tpr`);
    // TPR@FPR by a direct reading of ijb_11.py: min over (|fpr - x|, index) of the reversed arrays.
    const rf = [...brute.fpr].reverse();
    const rt = [...brute.tpr].reverse();
    const targets = [1e-3, 0.01, 0.05, 0.1, 0.3];
    const expected = targets.map((x) => {
      let best = 0;
      rf.forEach((f, i) => {
        if (Math.abs(f - x) < Math.abs(rf[best] - x)) best = i;
      });
      return rt[best];
    });
    assert.deepEqual(tprAtFpr(roc, targets), expected, `trial ${trial} tpr@fpr`);
  }
});

test('undefined rates are reported, not returned as NaN', () => {
  const roc = rocCurve([1, 1], [0.5, 0.4]);
  assert.throws(() => tprAtFpr(roc, [0.1]), { code: 'METRIC_UNDEFINED', message: /no impostor/ });
  assert.throws(() => rocCurve([1, 0], [NaN, 0.2]), { code: 'METRIC_UNDEFINED' });
});

test("NumPy's pairwise summation order: blocks of 8 accumulators, halves above 128", async () => {
  const { pairwiseSum, dotPairwise } = await import('../../src/eval/numeric.js');
  // 1e16 + 1 + 1 + ... : sequential summation loses every 1; pairwise keeps the ones added in
  // the other accumulators. With n = 9: r0 = 1e16 + 1 (lost), r1..r7 = 1, res = ((1e16 + 1) + 2) + 4 + 1.
  const v = [1e16, 1, 1, 1, 1, 1, 1, 1, 1];
  assert.equal(pairwiseSum(v, 0, 9), 1e16 + 8);
  let seq = 0;
  for (const x of v) seq += x;
  assert.equal(seq, 1e16); // what a plain loop gives
  // dot = sum of products, same order
  const ones = Array(9).fill(1);
  assert.equal(dotPairwise(v, 0, ones, 0, 9), pairwiseSum(v, 0, 9));
  // Above 128 values the range is split at half, rounded down to a multiple of 8:
  // 300 -> 144 + 156, and 144 -> 72 + 72.
  const big = Array.from({ length: 300 }, (_, i) => (i % 37 === 0 ? 1e16 : 1 + i / 7));
  assert.equal(pairwiseSum(big, 0, 300), pairwiseSum(big, 0, 144) + pairwiseSum(big, 144, 156));
  assert.equal(pairwiseSum(big, 0, 144), pairwiseSum(big, 0, 72) + pairwiseSum(big, 72, 72));
});
