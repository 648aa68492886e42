// The kernels we register on tfjs's cpu backend must compute what tfjs's own kernels compute,
// only faster: each is run against the stock kernel function (saved here before the cpu training
// backend replaces it) over the shapes where the arithmetic goes wrong (odd sizes, stride 2 'same'
// padding that puts the extra row at the bottom, valid padding that leaves rows unread, explicit
// padding, batch 1 and 3, channel multipliers 1 and 2, size-1 axes, broadcasting both ways), and
// the convolution gradients also against direct sums.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { cpuTrainingKernels, registerCpuTrainingKernels } from '../../../src/train/backends/cpu-kernels/index.js';
import { uniformArray } from '../../../src/seeded-random.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

const REPLACED = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'Add', 'Sub', 'Multiply', 'RealDiv', 'Sum', 'Mean'];

// tfjs registers its cpu kernels when it is imported; nothing has replaced them yet.
const STOCK = new Map(REPLACED.map((name) => [name, tf.getKernel(name, 'cpu')]));

before(async () => {
  await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
});

/** Deterministic values in [-1, 1), with every `zeroEvery`-th one 0 (as after a ReLU). */
function values(shape: number[], seed: number, zeroEvery = 0): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = uniformArray(size, -1, 1, seed);
  if (zeroEvery > 0) for (let i = 0; i < size; i += zeroEvery) data[i] = 0;
  return tf.tensor(data, shape);
}

/** Runs tfjs's own kernel function on the cpu backend; returns its output's shape and values. */
function runStock(name: string, inputs: Record<string, tf.Tensor>, attrs: object = {}): { shape: number[]; values: Float32Array } {
  const backend = tf.backend();
  const info = (STOCK.get(name) as tf.KernelConfig).kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
  const out = { shape: info.shape.slice(), values: Float32Array.from(backend.readSync(info.dataId) as Float32Array) };
  backend.disposeData(info.dataId);
  return out;
}

/** Runs the registered (our) kernel through the engine, as any op would. */
function runOurs(name: string, inputs: Record<string, tf.Tensor>, attrs: object = {}): { shape: number[]; values: Float32Array; dtype: string } {
  const t = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  const out = { shape: t.shape.slice(), values: Float32Array.from(t.dataSync() as Float32Array), dtype: t.dtype };
  t.dispose();
  return out;
}

/** Asserts equal shapes and values within `tolerance` of the largest magnitude (0: to the bit). */
function assertClose(label: string, got: { shape: number[]; values: Float32Array }, want: { shape: number[]; values: Float32Array }, tolerance: number): void {
  assert.deepEqual(got.shape, want.shape, `${label}: shape`);
  if (tolerance === 0) {
    assert.deepEqual(got.values, want.values, `${label}: values`);
    return;
  }
  const scale = Math.max(1e-6, ...want.values.map(Math.abs));
  let worst = 0;
  want.values.forEach((w, i) => (worst = Math.max(worst, Math.abs(got.values[i] - w))));
  assert.ok(worst <= tolerance * scale, `${label}: max |ours - tfjs| = ${worst} (scale ${scale})`);
}

const CONV_CASES: Array<{ batch: number; size: [number, number]; k: number; stride: number; pad: Pad }> = [];
for (const batch of [1, 3]) {
  for (const k of [1, 3, 5]) {
    for (const stride of [1, 2]) {
      for (const pad of ['same', 'valid'] as const) CONV_CASES.push({ batch, size: [7, 9], k, stride, pad });
    }
  }
}
CONV_CASES.push(
  { batch: 3, size: [8, 8], k: 3, stride: 2, pad: 'same' }, // 'same' pads 0 top, 1 bottom
  { batch: 2, size: [8, 10], k: 3, stride: 2, pad: 'valid' }, // the last row and column unread
  { batch: 1, size: [1, 1], k: 3, stride: 2, pad: 'same' },
  { batch: 2, size: [6, 7], k: 3, stride: 2, pad: [[0, 0], [2, 0], [0, 3], [0, 0]] },
  { batch: 2, size: [9, 7], k: 4, stride: 3, pad: 'same' },
);
const caseName = (c: (typeof CONV_CASES)[number]) =>
  `batch ${c.batch}, ${c.size[0]}x${c.size[1]}, ${c.k}x${c.k}, stride ${c.stride}, ${typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad)}`;

describe('Conv2DBackpropFilter on cpu matches tfjs\'s', () => {
  for (const c of CONV_CASES) {
    test(caseName(c), () => {
      const x = values([c.batch, ...c.size, 3], 1, 3);
      const filterShape: [number, number, number, number] = [c.k, c.k, 3, 4];
      const dy = values(tf.tidy(() => tf.conv2d(x as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, c.stride, c.pad).shape), 2);
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape };
      assertClose(caseName(c), runOurs('Conv2DBackpropFilter', { x, dy }, attrs), runStock('Conv2DBackpropFilter', { x, dy }, attrs), 1e-6);
      tf.dispose([x, dy]);
    });
  }

  test('NCHW data format', () => {
    const x = values([2, 3, 7, 9], 4);
    const dy = values([2, 4, 4, 5], 5);
    const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] };
    assertClose('NCHW', runOurs('Conv2DBackpropFilter', { x, dy }, attrs), runStock('Conv2DBackpropFilter', { x, dy }, attrs), 1e-6);
    tf.dispose([x, dy]);
  });

  test('stride 2 "same" against a direct sum (TensorFlow pads bottom/right)', () => {
    // x 1x4x4x1 = 0..15, 3x3 filter, stride 2, 'same': output 2x2, the padding row and column at
    // the bottom/right. With dy = 1: dW[kh][kw] = sum over oh, ow < 2 of x[2*oh + kh][2*ow + kw].
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
    const got = tf.tidy(() => {
      const x = tf.reshape(tf.range(0, 16), [1, 4, 4, 1]) as tf.Tensor4D;
      return tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 2, 'same')))(tf.zeros([3, 3, 1, 1])).dataSync();
    });
    assert.deepEqual(Array.from(got), expected);
  });
});

describe('DepthwiseConv2dNativeBackpropFilter on cpu matches tfjs\'s', () => {
  for (const multiplier of [1, 2]) {
    for (const c of CONV_CASES) {
      const label = `multiplier ${multiplier}, ${caseName(c)}`;
      test(label, () => {
        const x = values([c.batch, ...c.size, 3], 1, 3);
        const filterShape: [number, number, number, number] = [c.k, c.k, 3, multiplier];
        const dy = values(tf.tidy(() => tf.depthwiseConv2d(x as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, c.stride, c.pad).shape), 2);
        const attrs = { strides: c.stride, pad: c.pad, dilations: 1, filterShape };
        assertClose(label, runOurs('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs), runStock('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs), 1e-6);
        tf.dispose([x, dy]);
      });
    }
  }

  test('dilation 2 against a direct sum (tfjs\'s own kernel ignores the dilation)', () => {
    // x [1, 5, 6, 2], 2x2 filter dilated by 2, multiplier 2, valid: output 3x4.
    // dW[kh, kw, c, q] = sum over oh, ow of x[oh + 2*kh, ow + 2*kw, c] * dy[oh, ow, c*2 + q].
    const x = values([1, 5, 6, 2], 6);
    const dy = values([1, 3, 4, 4], 7);
    const xv = x.dataSync();
    const dyv = dy.dataSync();
    const expected = new Float32Array(2 * 2 * 2 * 2);
    for (let kh = 0; kh < 2; kh++) {
      for (let kw = 0; kw < 2; kw++) {
        for (let c = 0; c < 2; c++) {
          for (let q = 0; q < 2; q++) {
            let sum = 0;
            for (let oh = 0; oh < 3; oh++) {
              for (let ow = 0; ow < 4; ow++) sum += xv[((oh + 2 * kh) * 6 + ow + 2 * kw) * 2 + c] * dyv[(oh * 4 + ow) * 4 + c * 2 + q];
            }
            expected[((kh * 2 + kw) * 2 + c) * 2 + q] = sum;
          }
        }
      }
    }
    const attrs = { strides: 1, pad: 'valid', dilations: 2, filterShape: [2, 2, 2, 2] };
    assertClose('dilation 2', runOurs('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs), { shape: [2, 2, 2, 2], values: expected }, 1e-6);
    tf.dispose([x, dy]);
  });
});

// [a's shape, b's shape]: same shapes, a batch statistic against activations (both orders), a
// bias, a per-example vector, scalars, both operands broadcast, rank-0, and an empty tensor.
const BROADCASTS: Array<[number[], number[]]> = [
  [[3, 5, 7, 4], [3, 5, 7, 4]],
  [[3, 5, 7, 4], [1, 1, 1, 4]],
  [[1, 1, 1, 4], [3, 5, 7, 4]],
  [[3, 5, 7, 4], [4]],
  [[3, 1, 1, 4], [3, 5, 7, 4]],
  [[3, 5, 7, 4], []],
  [[], [2, 3]],
  [[3, 1], [1, 4]],
  [[2, 1, 3], [5, 1]],
  [[], []],
  [[0, 4], [1, 4]],
];

describe('Add, Sub, Multiply, RealDiv on cpu match tfjs\'s to the bit', () => {
  for (const name of ['Add', 'Sub', 'Multiply', 'RealDiv']) {
    for (const [aShape, bShape] of BROADCASTS) {
      const label = `${name} [${aShape}] with [${bShape}]`;
      test(label, () => {
        const a = values(aShape, 8);
        const b = values(bShape, 9);
        assertClose(label, runOurs(name, { a, b }), runStock(name, { a, b }), 0);
        tf.dispose([a, b]);
      });
    }
  }

  test('int32 operands are left to tfjs (integer results)', () => {
    const a = tf.tensor2d([[7, -7], [3, 9]], [2, 2], 'int32');
    const b = tf.tensor1d([2, 4], 'int32');
    const sum = runOurs('Add', { a, b });
    assert.equal(sum.dtype, 'int32');
    assert.deepEqual(Array.from(sum.values), [9, -3, 5, 13]);
    assert.deepEqual(Array.from(tf.mul(a, b).dataSync()), [14, -28, 6, 36]);
    tf.dispose([a, b]);
  });
});

describe('Sum and Mean on cpu match tfjs\'s to the bit', () => {
  const shape = [3, 5, 7, 4];
  const AXES: Array<number | number[]> = [[0, 1, 2], [3], [1, 2], [0, 2], [0, 1, 2, 3], [], -1, [2, 0]];
  for (const name of ['Sum', 'Mean']) {
    for (const axis of AXES) {
      for (const keepDims of [false, true]) {
        const label = `${name} over ${JSON.stringify(axis)}${keepDims ? ', keepDims' : ''}`;
        test(label, () => {
          const x = values(shape, 10);
          const attrs = { axis, keepDims };
          assertClose(label, runOurs(name, { x }, attrs), runStock(name, { x }, attrs), 0);
          x.dispose();
        });
      }
    }
  }

  test('size-1 axes, a vector, and an empty tensor', () => {
    for (const [s, axis] of [[[1, 6, 1, 2], [0, 1]], [[9], [0]], [[0, 3], [0]], [[2, 1], [1]]] as Array<[number[], number[]]>) {
      const x = values(s, 11);
      for (const name of ['Sum', 'Mean']) {
        assertClose(`${name} [${s}] over [${axis}]`, runOurs(name, { x }, { axis, keepDims: false }), runStock(name, { x }, { axis, keepDims: false }), 0);
      }
      x.dispose();
    }
  });

  test('int32 and bool inputs are left to tfjs', () => {
    const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]], [2, 3], 'int32');
    assert.equal(tf.sum(x, 0).dtype, 'int32');
    assert.deepEqual(Array.from(tf.sum(x, 0).dataSync()), [5, 7, 9]);
    assert.deepEqual(Array.from(tf.mean(x, 1).dataSync()), [2, 5]);
    assert.deepEqual(Array.from(tf.sum(tf.tensor1d([true, false, true], 'bool')).dataSync()), [2]);
    x.dispose();
  });
});

describe('cpu training kernels', () => {
  test('are registered on cpu in place of tfjs\'s, once', () => {
    assert.deepEqual(cpuTrainingKernels().map((k) => k.kernelName).sort(), [...REPLACED].sort());
    for (const config of cpuTrainingKernels()) {
      assert.equal(tf.getKernel(config.kernelName, 'cpu'), config, config.kernelName);
      assert.notEqual(config, STOCK.get(config.kernelName));
    }
    assert.deepEqual(registerCpuTrainingKernels(), [], 'a second registration registers nothing');
  });

  test('a training step leaves no tensor or cpu buffer behind', () => {
    const x = values([3, 7, 9, 3], 1) as tf.Tensor4D;
    const filter = values([3, 3, 3, 3], 2) as tf.Tensor4D;
    const depthwise = values([3, 3, 3, 1], 3) as tf.Tensor4D;
    const run = () => {
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const y = tf.add(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 2, 'same'));
        const { mean, variance } = tf.moments(y, [0, 1, 2], true);
        return tf.sum(tf.div(tf.sub(y, mean), tf.sqrt(tf.add(variance, 1e-3))));
      })([x, filter, depthwise]);
      tf.dispose(grads);
    };
    run();
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    for (let i = 0; i < 3; i++) run();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.backend().numDataIds(), buffers);
    tf.dispose([x, filter, depthwise]);
  });
});
