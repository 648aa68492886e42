// Native suite: the convolution gradient kernels protoserve registers on tfjs-node's 'tensorflow'
// backend (src/train/backends/tfjs-node-kernels) reproduce the cpu backend over the shapes where
// padding goes wrong, explicit padding included (tfjs-node's own kernels refuse it or pass it
// without the amounts), and over the 1x1 convolutions where TensorFlow's oneDNN gradients are
// wrong or write outside their buffers.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { TFJS_NODE_REPLACED_KERNELS, TFJS_NODE_WRAPPED_KERNELS } from '../../src/train/backends/tfjs-node-kernels/index.js';
import {
  CONV_CASES,
  assertSameAsCpu,
  on,
  caseName,
  conv2dGradients,
  depthwiseGradients,
  type ConvCase,
} from '../train/backends/backend-comparison.js';

before(async () => {
  await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  await resolveTrainingBackend({ backend: 'tfjs-node', log: () => {} });
});

/** tfjs-node's result (forward, d/dx, d/dW) equals cpu's to float32 rounding. */
function assertMatchesCpu(label: string, compute: () => tf.Tensor[]): void {
  assertSameAsCpu('tensorflow', label, compute, 1e-5);
}

const EXPLICIT: ConvCase[] = [
  { batch: 2, size: [7, 9], k: 3, stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { batch: 2, size: [7, 9], k: 3, stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { batch: 2, size: [8, 8], k: 3, stride: 2, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] },
  { batch: 1, size: [5, 5], k: 5, stride: 1, pad: [[0, 0], [2, 2], [2, 2], [0, 0]] },
  { batch: 2, size: [7, 7], k: 1, stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
];

describe('tfjs-node training kernels', () => {
  test('are registered on the tensorflow backend in place of tfjs-node\'s', () => {
    for (const config of TFJS_NODE_REPLACED_KERNELS) {
      assert.equal(tf.getKernel(config.kernelName, 'tensorflow'), config, config.kernelName);
    }
  });
});

describe('Step (the ReLU gradient) on tfjs-node', () => {
  test('is ours, and equals cpu\'s for alpha 0 and 0.2, signed zeros, NaN and infinities included', () => {
    for (const w of TFJS_NODE_WRAPPED_KERNELS) assert.notEqual(tf.getKernel(w.kernelName, 'tensorflow'), undefined);
    const compute = () => {
      const x = tf.tensor1d([-2, -0, 0, 1e-30, 3, NaN, Infinity, -Infinity, -1e-30]);
      return [tf.step(x), tf.step(x, 0.2), tf.grad((a: tf.Tensor) => tf.sum(tf.relu(a)))(x)];
    };
    const json = (arrays: Float32Array[]) => JSON.stringify(arrays.map((a) => Array.from(a)));
    assert.equal(json(on('tensorflow', compute)), json(on('cpu', compute)));
  });
});

describe('conv2d on tfjs-node matches cpu: forward, input and filter gradients', () => {
  for (const c of [...CONV_CASES, ...EXPLICIT]) test(caseName(c), () => assertMatchesCpu(caseName(c), conv2dGradients(c)));

  // TensorFlow 2.21's oneDNN 1x1 gradients: the input gradient is about 40% off with >= 512 input
  // channels (MobileFaceNet's 512 -> 128 projections), the filter gradient at stride 2 on an even
  // map corrupts the heap (ResNet shortcuts: "munmap_chunk(): invalid pointer"). Ours use neither.
  for (let run = 0; run < 20; run++) {
    const c: ConvCase = { batch: 16, size: [14, 14], k: 1, stride: 2, pad: 'valid' };
    test(`8 -> 16 channels, ${caseName(c)}, run ${run + 1} of 20`, () => assertMatchesCpu(caseName(c), conv2dGradients(c, 8, 16)));
  }
  const pointwise: ConvCase[] = [
    { batch: 2, size: [3, 3], k: 1, stride: 1, pad: 'valid' },
    { batch: 2, size: [1, 1], k: 1, stride: 1, pad: 'same' },
    { batch: 2, size: [5, 5], k: 1, stride: 2, pad: 'valid' },
    { batch: 2, size: [5, 5], k: 1, stride: 1, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] },
  ];
  for (const c of pointwise) {
    test(`512 -> 128 channels, ${caseName(c)}`, () => assertMatchesCpu(caseName(c), conv2dGradients(c, 512, 128)));
  }
});

describe('depthwiseConv2d on tfjs-node matches cpu: forward, input and filter gradients', () => {
  for (const multiplier of [1, 2]) {
    for (const c of [...CONV_CASES, ...EXPLICIT]) {
      const label = `multiplier ${multiplier}, ${caseName(c)}`;
      test(label, () => assertMatchesCpu(label, depthwiseGradients(c, multiplier)));
    }
  }
});
