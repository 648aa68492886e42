// BCE3S stage 2: effective-number weights, the class-balanced BCE with partial negatives (no
// clamp, divided by B) against the float64 reference, its gradients, and MaxNorm.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { classBalancedBceLoss, effectiveNumberWeights } from '../../../src/train/objectives/class-balanced-bce.js';
import { maxNormThreshold, projectMaxNorm, rowNorms } from '../../../src/train/objectives/max-norm.js';
import { assertClose, numericalGradient, randomMatrix, randomVector, t1, t2, tfGradients } from './gradient-check.js';
import { bceRef, classBalancedBceRef, logitsRef } from './reference.js';

describe('BCE3S stage 2: class-balanced BCE', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });

  it('effective-number weights: (1 - beta) / (1 - beta^n), normalized to sum to C', () => {
    // By hand, beta = 0.5, counts 1, 2: raw 1 and 0.5/0.75 = 2/3; sum 5/3; times C/sum = 6/5.
    assertClose(effectiveNumberWeights([1, 2], 0.5), [6 / 5, 4 / 5], 'weights', 1e-15, 0);
    const w = effectiveNumberWeights([500, 50, 5], 0.99999);
    assertClose([w.reduce((a, b) => a + b, 0)], [3], 'sum', 1e-12, 0);
    // Near beta = 1 the weights are about proportional to 1 / n.
    assertClose([w[1] / w[0], w[2] / w[0]], [10, 100], 'about 1/n', 1e-2, 0);
    assert.throws(() => effectiveNumberWeights([1, 0], 0.9), /class counts must be positive/);
    assert.throws(() => effectiveNumberWeights([1, 2], 1), /beta must be in \[0, 1\)/);
  });

  const labels = [2, 0, 2, 4, 1];
  const counts = [300, 120, 40, 9, 3, 1];
  const perm = [4, 1, 5, 0, 3, 2];
  const beta = 0.999;
  const X = randomMatrix(5, 4, 21, 30); // large features: no clamp in stage 2 shows
  const W = randomMatrix(6, 4, 22);
  const b = randomVector(6, 23, 0.5);

  const input = (x: Record<string, tf.Tensor> = {}) => ({
    features: (x.X ?? t2(X)) as tf.Tensor2D,
    labels: Int32Array.from(labels),
    weight: (x.W ?? t2(W)) as tf.Tensor2D,
    bias: (x.b ?? t1(b)) as tf.Tensor1D,
    classWeights: effectiveNumberWeights(counts, beta),
    classScores: perm,
  });

  for (const r of [0.5, 1]) {
    it(`equals the reference and its gradients (r = ${r})`, () => {
      const { value, grads } = tfGradients({ X: t2(X), W: t2(W), b: t1(b) }, (x) => classBalancedBceLoss(input(x), { r }));
      const ref = () => classBalancedBceRef(X, labels, W, b, counts, beta, perm, r);
      assertClose([value], [ref()], 'loss', 2e-6, 1e-6);
      assertClose(grads.X, numericalGradient(ref, X), 'd/dX', 1e-3, 1e-5);
      assertClose(grads.W, numericalGradient(ref, W), 'd/dW', 1e-3, 1e-5);
      assertClose(grads.b, numericalGradient(ref, b), 'd/db', 1e-3, 1e-5);
    });
  }

  it('is not clamped: logits beyond 64 count in full', () => {
    const big = X.map((row) => row.map((v) => v * 10));
    const value = tf.tidy(() => classBalancedBceLoss({ ...input(), features: t2(big) }, { r: 1 }).dataSync()[0]);
    const want = classBalancedBceRef(big, labels, W, b, counts, beta, perm, 1);
    assertClose([value], [want], 'loss', 2e-6, 1e-4);
    // Logits pass 64 here, and the same sum with clamped logits would be another number.
    const Z = logitsRef(big, W, b);
    assert.ok(Math.max(...Z.flat().map(Math.abs)) > 100);
    const Y = labels.map((y) => counts.map((_, c) => (c === y ? 1 : 0)));
    const w = effectiveNumberWeights(counts, beta);
    const clamped = bceRef(Z, Y, Y.map((row) => row.map((v) => 1 - v)), 64, 1, undefined, labels.map((y) => w[y]));
    assert.ok(Math.abs(clamped - want) > 1, `${clamped} vs ${want}`);
  });
});

describe('MaxNorm', () => {
  it('caps rows at min + 0.1 (max - min) of the norms measured once; shorter rows unchanged', () => {
    // Row norms 1, 5, 11 -> t = 1 + 0.1 * 10 = 2.
    const W = tf.tensor2d([[0, 1, 0], [3, 4, 0], [2, 9, 6]]);
    const t = maxNormThreshold(W);
    assert.equal(t, 2);
    const projected = projectMaxNorm(W, t);
    assertClose(projected.dataSync(), [0, 1, 0, 1.2, 1.6, 0, 4 / 11, 18 / 11, 12 / 11], 'projected', 1e-6, 1e-7);
    assertClose(rowNorms(projected), [1, 2, 2], 'norms', 1e-6, 0);
    // The threshold stays fixed: projecting again changes nothing.
    assertClose(projectMaxNorm(projected, t).dataSync(), projected.dataSync(), 'idempotent', 0, 0);
  });
});
