// Add, Sub, Multiply and RealDiv for the cpu backend, on float32 operands. tfjs 4.22's own
// kernels call the operator through a closure shared by every binary kernel, per element, and
// index the operands with `i % length`; and whenever an operand has a size-1 axis they compute
// every element's coordinates (indexToLoc, two array slices, two locToIndex). Batch norm in
// training runs many of these on whole activations, forward and backward (moments' x - mean with
// the [1, 1, 1, C] mean, the gradient of each broadcast, x * scale, the sums of gradients): in a
// resnet8 training step at batch 64 they took 6.5 s of 19.7 s (a busy 2-core machine), about
// 0.6 s with these. Here each operand gets a stride per output axis (0 along the axes it is
// broadcast on), the output is filled one innermost run at a time, and each operator has its own
// loop. The values are tfjs's to the bit (the operator in doubles, rounded to float32 on store).
// Other dtypes (int32, complex, strings) go to tfjs's kernel.
import * as tf from '@tensorflow/tfjs';
import { output, values } from './cpu-arrays.js';

export type ArithmeticKernel = 'Add' | 'Sub' | 'Multiply' | 'RealDiv';

export const ARITHMETIC_KERNELS: readonly ArithmeticKernel[] = ['Add', 'Sub', 'Multiply', 'RealDiv'];

/**
 * For each axis of `outShape`, the step in a row-major array of `inShape` (right-aligned, as
 * broadcasting aligns shapes): 0 along the axes `inShape` lacks or has as 1.
 */
function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let step = 1;
  for (let i = inShape.length - 1, d = outShape.length - 1; i >= 0; i--, d--) {
    if (inShape[i] !== 1) strides[d] = step;
    step *= inShape[i];
  }
  return strides;
}

/**
 * out[o + j] = a[ia + j*aStep] (op) b[ib + j*bStep] for j < run. The switch is outside the loops
 * so that each loop has its operator inline.
 */
function fillRun(
  op: ArithmeticKernel,
  out: Float32Array,
  o: number,
  run: number,
  a: ArrayLike<number>,
  ia: number,
  aStep: number,
  b: ArrayLike<number>,
  ib: number,
  bStep: number,
): void {
  const end = o + run;
  switch (op) {
    case 'Add':
      for (; o < end; o++, ia += aStep, ib += bStep) out[o] = a[ia] + b[ib];
      return;
    case 'Sub':
      for (; o < end; o++, ia += aStep, ib += bStep) out[o] = a[ia] - b[ib];
      return;
    case 'Multiply':
      for (; o < end; o++, ia += aStep, ib += bStep) out[o] = a[ia] * b[ib];
      return;
    case 'RealDiv':
      for (; o < end; o++, ia += aStep, ib += bStep) out[o] = a[ia] / b[ib];
      return;
  }
}

/** a (op) b elementwise with broadcasting (TensorFlow's rules), into a new float32 array. */
export function broadcastArithmetic(
  op: ArithmeticKernel,
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
): { shape: number[]; values: Float32Array } {
  const shape = tf.backend_util.assertAndGetBroadcastShape([...aShape], [...bShape]);
  const out = new Float32Array(tf.util.sizeFromShape(shape));
  if (out.length === 0) return { shape, values: out };
  const aFull = broadcastStrides(aShape, shape);
  const bFull = broadcastStrides(bShape, shape);
  // Merge neighbouring axes along which both operands are laid out contiguously (or both
  // broadcast): [N, H, W, C] against [1, 1, 1, C] becomes [N*H*W, C] against strides [0, 1].
  const dims: number[] = [];
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  shape.forEach((size, d) => {
    if (size === 1) return;
    const k = dims.length - 1;
    if (k >= 0 && aStrides[k] === aFull[d] * size && bStrides[k] === bFull[d] * size) {
      dims[k] *= size;
      aStrides[k] = aFull[d];
      bStrides[k] = bFull[d];
    } else {
      dims.push(size);
      aStrides.push(aFull[d]);
      bStrides.push(bFull[d]);
    }
  });
  if (dims.length === 0) {
    fillRun(op, out, 0, 1, a, 0, 0, b, 0, 0);
    return { shape, values: out };
  }
  const inner = dims.length - 1;
  const run = dims[inner];
  const counter = new Array<number>(inner).fill(0);
  let aAt = 0;
  let bAt = 0;
  for (let o = 0; o < out.length; o += run) {
    fillRun(op, out, o, run, a, aAt, aStrides[inner], b, bAt, bStrides[inner]);
    // Next position along the outer axes (an odometer, last axis fastest).
    for (let d = inner - 1; d >= 0; d--) {
      aAt += aStrides[d];
      bAt += bStrides[d];
      if (++counter[d] < dims[d]) break;
      counter[d] = 0;
      aAt -= aStrides[d] * dims[d];
      bAt -= bStrides[d] * dims[d];
    }
  }
  return { shape, values: out };
}

/** Our kernel of this name; `stock` is tfjs's, for the dtypes ours leave to it. */
export function arithmeticKernelConfig(op: ArithmeticKernel, stock: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: op,
    backendName: 'cpu',
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
      const backend = args.backend as tf.KernelBackend;
      const result = broadcastArithmetic(op, values(backend, a), a.shape, values(backend, b), b.shape);
      return output(backend, result.shape, result.values);
    },
  };
}
