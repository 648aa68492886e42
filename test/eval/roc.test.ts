import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IJB_FAR_TARGETS, pythonFloatLabel, rocCurve, tprAtFpr } from '../../src/eval/roc.js';
import { readReference } from '../fixtures/reference.js';

interface RocCase {
  name: string;
  labels: number[];
  scores: number[];
  fpr: number[];
  tpr: number[];
  thresholds: number[];
  targets: number[];
  tprAtTargets: number[];
}
const fixture = readReference<{ cases: RocCase[] }>('roc-curve.json');

test("rocCurve equals scikit-learn's roc_curve on every reference case (ties, drop_intermediate, 3000 scores)", () => {
  assert.equal(fixture.cases.length, 32);
  for (const c of fixture.cases) {
    const roc = rocCurve(c.labels, c.scores);
    assert.deepEqual(Array.from(roc.fpr), c.fpr, `${c.name} fpr`);
    assert.deepEqual(Array.from(roc.tpr), c.tpr, `${c.name} tpr`);
    assert.deepEqual(Array.from(roc.thresholds), c.thresholds, `${c.name} thresholds`);
  }
});

test("TPR at FPR equals what ijb_onnx.py reads off the reversed scikit-learn curve", () => {
  for (const c of fixture.cases) {
    assert.deepEqual(tprAtFpr(rocCurve(c.labels, c.scores), c.targets), c.tprAtTargets, c.name);
  }
  assert.deepEqual(IJB_FAR_TARGETS.map(pythonFloatLabel), ['1e-06', '1e-05', '0.0001', '0.001', '0.01', '0.1']);
});

test('undefined rates are reported, not returned as NaN', () => {
  const roc = rocCurve([1, 1], [0.5, 0.4]);
  assert.throws(() => tprAtFpr(roc, [0.1]), { code: 'METRIC_UNDEFINED' });
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
  const ones = Array(9).fill(1);
  assert.equal(dotPairwise(v, 0, ones, 0, 9), pairwiseSum(v, 0, 9));
  // Above 128 values the range is split at half, rounded down to a multiple of 8:
  // 300 -> 144 + 156, and 144 -> 72 + 72.
  const big = Array.from({ length: 300 }, (_, i) => (i % 37 === 0 ? 1e16 : 1 + i / 7));
  assert.equal(pairwiseSum(big, 0, 300), pairwiseSum(big, 0, 144) + pairwiseSum(big, 144, 156));
  assert.equal(pairwiseSum(big, 0, 144), pairwiseSum(big, 0, 72) + pairwiseSum(big, 72, 72));
});
