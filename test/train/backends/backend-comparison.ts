// Shared by the kernel tests of every backend (wasm in npm test, tfjs-node in the native suite):
// deterministic inputs, running one computation on two backends, and the convolution shapes where
// padding and stride arithmetic goes wrong.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { uniformArray } from '../../../src/seeded-random.js';

export type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** Deterministic values in [-1, 1), the same on every backend (no backend RNG). */
export function values(shape: number[], seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(uniformArray(size, -1, 1, seed), shape);
}

/** Runs `compute` on one (initialized) tfjs backend, returns its outputs as arrays. */
export function on(tfjsBackend: string, compute: () => tf.Tensor[]): Float32Array[] {
  tf.setBackend(tfjsBackend); // already initialized: synchronous
  assert.equal(tf.getBackend(), tfjsBackend);
  const outs = tf.tidy(compute);
  const arrays = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return arrays;
}

/** Asserts `tfjsBackend`'s result equals cpu's within `tolerance` of the largest magnitude. */
export function assertSameAsCpu(tfjsBackend: string, label: string, compute: () => tf.Tensor[], tolerance = 1e-4): void {
  const expected = on('cpu', compute);
  const actual = on(tfjsBackend, compute);
  assert.equal(actual.length, expected.length);
  expected.forEach((want, i) => {
    const got = actual[i];
    assert.equal(got.length, want.length, `${label} output ${i}: size`);
    const scale = Math.max(1e-6, ...want.map(Math.abs));
    let worst = 0;
    for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j] - want[j]));
    assert.ok(worst <= tolerance * scale, `${label} output ${i}: max |${tfjsBackend} - cpu| = ${worst} (scale ${scale})`);
  });
}

export interface ConvCase {
  batch: number;
  size: [number, number];
  k: number;
  stride: number;
  pad: Pad;
}

/** Odd sizes, 1x1 to 5x5 filters, strides 1 and 2, 'same' and 'valid', batch 1 and 3, plus: */
export const CONV_CASES: ConvCase[] = [];
for (const batch of [1, 3]) {
  for (const k of [1, 3, 5]) {
    for (const stride of [1, 2]) {
      for (const pad of ['same', 'valid'] as const) CONV_CASES.push({ batch, size: [7, 9], k, stride, pad });
    }
  }
}
// Even sizes at stride 2 (the 'same' padding splits 1 row: 0 top, 1 bottom), a 1-pixel image, and
// explicit asymmetric padding.
CONV_CASES.push(
  { batch: 3, size: [8, 8], k: 3, stride: 2, pad: 'same' },
  { batch: 2, size: [8, 10], k: 3, stride: 2, pad: 'valid' },
  { batch: 1, size: [1, 1], k: 3, stride: 2, pad: 'same' },
  { batch: 2, size: [6, 7], k: 3, stride: 2, pad: [[0, 0], [2, 0], [0, 3], [0, 0]] },
  { batch: 2, size: [9, 7], k: 4, stride: 3, pad: 'same' },
);

export const caseName = (c: ConvCase) =>
  `batch ${c.batch}, ${c.size[0]}x${c.size[1]}, ${c.k}x${c.k}, stride ${c.stride}, ${typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad)}`;

/** Forward output, d/dx and d/dW of sum(conv2d(x, W) * dy) for a fixed dy: the kernels get exactly dy. */
export function conv2dGradients(c: ConvCase, inChannels = 3, outChannels = 4): () => tf.Tensor[] {
  return () => {
    const x = values([c.batch, ...c.size, inChannels], 1) as tf.Tensor4D;
    const filter = values([c.k, c.k, inChannels, outChannels], 2) as tf.Tensor4D;
    const y = tf.conv2d(x, filter, c.stride, c.pad);
    const dy = values(y.shape, 3);
    const conv = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), dy));
    return [y, ...tf.grads(conv)([x, filter])];
  };
}

/** The same for tf.depthwiseConv2d with 3 channels and a channel multiplier. */
export function depthwiseGradients(c: ConvCase, multiplier: number): () => tf.Tensor[] {
  return () => {
    const x = values([c.batch, ...c.size, 3], 1) as tf.Tensor4D;
    const filter = values([c.k, c.k, 3, multiplier], 2) as tf.Tensor4D;
    const y = tf.depthwiseConv2d(x, filter, c.stride, c.pad);
    const dy = values(y.shape, 3);
    const conv = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), dy));
    return [y, ...tf.grads(conv)([x, filter])];
  };
}
