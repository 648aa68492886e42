// The gradient kernels we give the wasm backend must reproduce the cpu backend (the reference;
// its filter-gradient kernels are ours too, checked against tfjs's own in cpu-kernels.test.ts) to
// float32 rounding, over the shapes and paddings where conv arithmetic goes wrong: odd sizes,
// stride 2 'same' (TensorFlow pads the extra row at the bottom), valid padding that leaves rows
// unread, explicit padding, 1x1 and 5x5 filters, batch 1 and 3.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { WASM_MISSING_KERNELS, WASM_REPLACED_KERNELS, mergeSliceAxes } from '../../../src/train/backends/wasm-kernels/index.js';
import { CONV_CASES, assertSameAsCpu, caseName, conv2dGradients, depthwiseGradients, on, values } from './backend-comparison.js';

before(async () => {
  await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  await resolveTrainingBackend({ backend: 'wasm', log: () => {} });
});

/** Asserts wasm's result equals cpu's within 1e-4 of the largest magnitude. */
function assertSameOnBoth(label: string, compute: () => tf.Tensor[]): void {
  assertSameAsCpu('wasm', label, compute);
}

/** The wasm backend's live buffers: must not grow when a kernel runs (no leaked intermediates). */
function wasmBuffers(): number {
  return tf.engine().findBackend('wasm').numDataIds();
}

describe('conv2d gradients on wasm match cpu', () => {
  for (const c of CONV_CASES) {
    test(caseName(c), () => assertSameOnBoth(caseName(c), conv2dGradients(c)));
  }

  test('filter gradient at stride 2 "same" against a direct sum (TensorFlow pads bottom/right)', () => {
    // x 1x4x4x1 = 0..15, 3x3 filter, stride 2, 'same': output 2x2, total padding 1 per axis, all
    // of it at the bottom/right. With dy = 1: dW[kh][kw] = sum over oh, ow < 2 of
    // x[2*oh + kh][2*ow + kw], reading 0 past the image.
    const expected: number[] = [];
    for (let kh = 0; kh < 3; kh++) {
      for (let kw = 0; kw < 3; kw++) {
        let sum = 0;
        for (let oh = 0; oh < 2; oh++) {
          for (let ow = 0; ow < 2; ow++) {
            const r = 2 * oh + kh;
            const col = 2 * ow + kw;
            if (r < 4 && col < 4) sum += r * 4 + col;
          }
        }
        expected.push(sum);
      }
    }
    const [got] = on('wasm', () => {
      const x = tf.reshape(tf.range(0, 16), [1, 4, 4, 1]) as tf.Tensor4D;
      const filter = tf.zeros([3, 3, 1, 1]) as tf.Tensor4D;
      return [tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 2, 'same')))(filter)];
    });
    assert.deepEqual(Array.from(got), expected);
  });

  test('NCHW data format (kernels called directly)', () => {
    const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NCHW' };
    assertSameOnBoth('NCHW', () => {
      const x = values([2, 3, 7, 9], 4);
      const dy = values([2, 4, 4, 5], 5);
      const filter = values([3, 3, 3, 4], 6);
      return [
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, 3, 4] }) as tf.Tensor,
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: [2, 3, 7, 9] }) as tf.Tensor,
      ];
    });
  });
});

describe('depthwiseConv2d gradients on wasm match cpu', () => {
  for (const multiplier of [1, 2]) {
    for (const c of CONV_CASES) {
      const label = `multiplier ${multiplier}, ${caseName(c)}`;
      test(label, () => assertSameOnBoth(label, depthwiseGradients(c, multiplier)));
    }
  }
});

describe('gather gradient (UnsortedSegmentSum) on wasm matches cpu', () => {
  test('axis 0 with repeated indices', () => {
    assertSameOnBoth('axis 0', () => {
      const x = values([5, 3], 1);
      const indices = tf.tensor1d([0, 2, 2, 4, 1, 0, 0], 'int32');
      const dy = values([7, 3], 2);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, indices, 0), dy)))(x)];
    });
  });

  test('inner axis of rank 3 with 2-D indices', () => {
    assertSameOnBoth('axis 1', () => {
      const x = values([2, 6, 4], 3);
      const indices = tf.tensor2d([[5, 0, 5], [1, 1, 3]], [2, 3], 'int32');
      const dy = values([2, 2, 3, 4], 4);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, indices, 1), dy)))(x)];
    });
  });

  test('batchDims 1 (per-example lookups, e.g. each sample\'s own prototypes)', () => {
    assertSameOnBoth('batchDims 1', () => {
      const x = values([3, 5, 2], 5);
      const indices = tf.tensor2d([[4, 4], [0, 2], [1, 1]], [3, 2], 'int32');
      const dy = values([3, 2, 2], 6);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, indices, 1, 1), dy)))(x)];
    });
  });

  test('unsortedSegmentSum drops ids outside [0, numSegments) and sums duplicates', () => {
    const [got] = on('wasm', () => [
      tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [10, 20], [100, 200], [1000, 2000], [5, 5]]), tf.tensor1d([2, -1, 2, 3, 0], 'int32'), 3),
    ]);
    // id -1 and id 3 (== numSegments) are dropped.
    assert.deepEqual(Array.from(got), [5, 5, 0, 0, 101, 202]);
  });

  test('unsortedSegmentSum with 2-D ids over rank-3 data (TensorFlow semantics), int32 data, and no ids', () => {
    // tfjs's cpu kernel does not implement ids of rank > 1 (it broadcasts instead), so the
    // reference is a direct sum: out[s, j] = sum of data[a, b, j] where ids[a][b] == s.
    const ids = [[0, 3, 1], [3, 3, 9]];
    const data = values([2, 3, 4], 7);
    const flat = data.dataSync();
    const expected = new Array<number>(4 * 4).fill(0);
    ids.flat().forEach((id, row) => {
      if (id < 0 || id >= 4) return;
      for (let j = 0; j < 4; j++) expected[id * 4 + j] += flat[row * 4 + j];
    });
    const [got] = on('wasm', () => [
      tf.engine().runKernel('UnsortedSegmentSum', { x: data, segmentIds: tf.tensor2d(ids, [2, 3], 'int32') }, { numSegments: 4 }) as tf.Tensor,
    ]);
    data.dispose();
    assert.equal(got.length, expected.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-5, `element ${i}: ${v} vs ${expected[i]}`));
    const [ints] = on('wasm', () => [tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([1, 1, 0], 'int32'), 2)]);
    assert.deepEqual(Array.from(ints), [3, 3]);
    const [empty] = on('wasm', () => [tf.unsortedSegmentSum(tf.zeros([0, 2]), tf.zeros([0], 'int32'), 2)]);
    assert.deepEqual(Array.from(empty), [0, 0, 0, 0]);
  });
});

describe('faster wasm Identity, Slice, Sum and Mean match cpu', () => {
  test('slices: NHWC crops, inner offsets, whole axes, size-1 axes, rank 1 and 5, int32', () => {
    assertSameOnBoth('slice', () => {
      const x = values([3, 7, 9, 5], 1);
      const x5 = values([2, 3, 1, 4, 6], 2);
      return [
        tf.slice(x, [0, 1, 1, 0], [-1, 5, 7, -1]),
        tf.slice(x, [1, 0, 2, 1], [2, -1, 3, 3]),
        tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, -1]),
        tf.slice(x, [2, 6, 8, 4], [1, 1, 1, 1]),
        tf.slice(values([11], 3), [4], [5]),
        tf.slice(x5, [1, 1, 0, 1, 0], [1, 2, 1, 2, 6]),
        tf.cast(tf.slice(tf.cast(tf.mul(x, 100), 'int32'), [0, 2, 0, 1], [-1, 3, -1, 2]), 'float32'),
      ];
    });
    assert.deepEqual(mergeSliceAxes([64, 29, 29, 16], [0, 1, 1, 0], [64, 28, 28, 16]), {
      shape: [64, 29, 464], begin: [0, 1, 16], size: [64, 28, 448],
    });
  });

  test('sums and means over leading axes (batch-norm statistics), other axes, keepDims, and their gradients', () => {
    assertSameOnBoth('reduce', () => {
      const x = values([6, 5, 7, 4], 4);
      const bn = tf.grad((t: tf.Tensor) => {
        const { mean, variance } = tf.moments(t, [0, 1, 2]);
        // Weights per element: a per-channel weight would make the gradient vanish (normalized
        // values sum to 0 per channel).
        return tf.sum(tf.mul(tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-3))), values(t.shape, 5)));
      })(x);
      return [
        tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2]), tf.sum(x, [1, 0], true), tf.mean(x, 0),
        tf.sum(x, [1, 2]), tf.mean(x), tf.sum(x, [0, 2]), bn,
      ];
    });
    const [ints] = on('wasm', () => [tf.sum(tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32'), 0)]);
    assert.deepEqual(Array.from(ints), [9, 12]);
  });

  test('a clone shares the data and outlives the original', () => {
    const [copy] = on('wasm', () => {
      const x = values([2, 3], 6);
      const y = tf.clone(x);
      x.dispose();
      return [y];
    });
    const [want] = on('cpu', () => [values([2, 3], 6)]);
    assert.deepEqual(Array.from(copy), Array.from(want));
  });
});

describe('wasm training kernels', () => {
  test('are registered on wasm, and the replaced one is ours', () => {
    for (const config of [...WASM_MISSING_KERNELS, ...WASM_REPLACED_KERNELS]) {
      assert.equal(tf.getKernel(config.kernelName, 'wasm'), config, config.kernelName);
    }
  });

  test('leave no tensor or wasm buffer behind', () => {
    tf.setBackend('wasm');
    const x = values([3, 7, 9, 3], 1) as tf.Tensor4D;
    const filter = values([3, 3, 3, 2], 2) as tf.Tensor4D;
    const run = () => {
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.add(
          tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
          tf.sum(tf.gather(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), [0, 0, 2], 0)),
        ),
      )([x, filter]);
      tf.dispose(grads);
    };
    run(); // first call may create caches
    const tensors = tf.memory().numTensors;
    const buffers = wasmBuffers();
    for (let i = 0; i < 3; i++) run();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(wasmBuffers(), buffers);
    tf.dispose([x, filter]);
  });
});
