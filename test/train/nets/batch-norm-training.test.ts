// Batch normalization in training mode, written as one op with its closed-form gradient: the
// values and every gradient must equal what tfjs's autodiff computes from the plain formula
// y = (x - mean) / sqrt(var + eps) * gamma + beta (written out here, op by op), with and without
// scale and offset, over NHWC maps and [batch, features] rows.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { batchNormTraining, type BatchStatistics } from '../../../src/train/nets/batch-norm-training.js';
import { normalArray, uniformArray } from '../../../src/seeded-random.js';

before(() => resolveTrainingBackend({ backend: 'cpu', log: () => {} }));

const EPS = 1e-3;

function plain(x: tf.Tensor, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined): tf.Tensor {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const mean = tf.mean(x, axes);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), axes);
  let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, EPS)));
  if (gamma) y = tf.mul(y, gamma);
  if (beta) y = tf.add(y, beta);
  return y;
}

function assertClose(label: string, got: tf.Tensor, want: tf.Tensor): void {
  assert.deepEqual(got.shape, want.shape, label);
  const g = got.dataSync();
  const w = want.dataSync();
  const scale = Math.max(1e-6, ...Array.from(w, Math.abs));
  let worst = 0;
  for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]));
  assert.ok(worst <= 2e-5 * scale, `${label}: max difference ${worst} (scale ${scale})`);
}

describe('batch norm in training mode', () => {
  for (const shape of [[3, 4, 5, 2], [6, 3]]) {
    for (const [scale, center] of [[true, true], [false, true], [true, false], [false, false]]) {
      test(`[${shape}], scale ${scale}, center ${center}: values and gradients equal autodiff of the formula`, () => {
        const channels = shape[shape.length - 1];
        const size = shape.reduce((a, b) => a * b, 1);
        // A mean far from 0 and unequal channel scales, as after a convolution.
        const x = tf.add(tf.mul(tf.tensor(normalArray(size, 1, 1), shape), tf.tensor1d(uniformArray(channels, 0.5, 3, 2))), 4);
        const gamma = scale ? tf.tensor1d(uniformArray(channels, 0.5, 1.5, 3)) : undefined;
        const beta = center ? tf.tensor1d(uniformArray(channels, -1, 1, 4)) : undefined;
        const r = tf.tensor(normalArray(size, 1, 5), shape); // the upstream gradient
        const params = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
        const unpack = (ts: tf.Tensor[]) => [ts[0], gamma ? ts[1] : undefined, beta ? ts[gamma ? 2 : 1] : undefined] as const;
        const stats: BatchStatistics[] = [];
        const ours = tf.grads((...ts: tf.Tensor[]) => {
          const [a, g, b] = unpack(ts);
          return tf.sum(tf.mul(batchNormTraining(a, g, b, EPS, (s) => stats.push({ mean: tf.keep(s.mean.clone()), variance: tf.keep(s.variance.clone()) })), r));
        })(params);
        const reference = tf.grads((...ts: tf.Tensor[]) => {
          const [a, g, b] = unpack(ts);
          return tf.sum(tf.mul(plain(a, g, b), r));
        })(params);
        assertClose('y', batchNormTraining(x, gamma, beta, EPS, () => {}), plain(x, gamma, beta));
        ['dx', 'dgamma', 'dbeta'].filter((_, i) => i === 0 || (i === 1 ? scale : center)).forEach((name, i) => assertClose(name, ours[i], reference[i]));
        // The statistics handed out are the batch's mean and biased variance.
        const axes = Array.from({ length: shape.length - 1 }, (_, i) => i);
        assertClose('mean', stats[0].mean, tf.mean(x, axes));
        assertClose('variance', stats[0].variance, tf.moments(x, axes).variance);
      });
    }
  }

  test('leaves no tensor behind', () => {
    const x = tf.tensor(normalArray(2 * 3 * 3 * 4, 1, 6), [2, 3, 3, 4]);
    const gamma = tf.ones([4]);
    const beta = tf.zeros([4]);
    const before = tf.memory().numTensors;
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(batchNormTraining(a, g, b, EPS, () => {}))))([x, gamma, beta]);
    tf.dispose(grads);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, gamma, beta]);
  });
});
