// hat(v) = v / max(||v||, 1e-5): values on both sides of eps, and a finite gradient at v = 0.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { l2NormalizeRows } from '../../../src/train/objectives/l2-normalize-rows.js';
import { assertClose } from './gradient-check.js';

describe('l2NormalizeRows', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });

  it('divides by the norm, or by 1e-5 below it', () => {
    const x = tf.tensor2d([[3, 4], [3e-6, 4e-6], [3e-4, 4e-4], [0, 0]]);
    assertClose(l2NormalizeRows(x).dataSync(), [0.6, 0.8, 0.3, 0.4, 0.6, 0.8, 0, 0], 'hat', 1e-6, 1e-7);
  });

  it('has a finite gradient at an all-zero row (1 / eps through the numerator)', () => {
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(l2NormalizeRows(x as tf.Tensor2D), tf.tensor2d([[1, 2]]))))(tf.tensor2d([[0, 0]]));
    assertClose(g.dataSync(), [1e5, 2e5], 'gradient', 1e-6, 0);
    assert.ok(Array.from(g.dataSync()).every(Number.isFinite));
  });
});
