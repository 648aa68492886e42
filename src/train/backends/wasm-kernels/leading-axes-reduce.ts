// Sum and Mean for the wasm backend over leading axes, wrapping tfjs 4.22's own. Theirs reduces
// only innermost axes, so it first transposes the reduced axes to the end: the per-channel sums
// of batch norm ([N, H, W, C] over N, H, W, forward and in every broadcast gradient) took 4.4 ms
// for a [64, 28, 28, 16] tensor, and 90 ms of a 700 ms resnet8 step. Over a leading block of axes
// the input is already an [outer, inner] matrix in memory, and its column means are one average
// pooling of [1, outer, 1, inner] with an [outer, 1] window, which XNNPACK does in 0.5 ms (a sum is
// that mean times outer: within 1e-5 relative of a sequential sum). A GEMV (ones[1, outer] x X)
// was no faster: XNNPACK packs X as the weights of its fully connected operator on every call,
// 4 ms. Other axes and other dtypes go to the original kernel.
import * as tf from '@tensorflow/tfjs';
import { runComposite } from '../composite-kernel.js';
import type { KernelWrapper } from '../register-kernels.js';

/** How many leading axes `axes` is (0, 1, ..., k-1 in any order), or 0 when it is not a prefix. */
function leadingAxesCount(axes: number[]): number {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  return sorted.every((a, i) => a === i) ? sorted.length : 0;
}

function leadingAxesReduce(kernelName: 'Sum' | 'Mean'): KernelWrapper {
  return {
    kernelName,
    backendName: 'wasm',
    wrap: (original) => (args) => {
      const { inputs, attrs, backend } = args;
      const { x } = inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
      const k = leadingAxesCount(tf.util.parseAxisParam(axis, x.shape));
      const outer = x.shape.slice(0, k).reduce((p, d) => p * d, 1);
      const innerShape = x.shape.slice(k);
      const inner = innerShape.reduce((p, d) => p * d, 1);
      // k === rank (a full reduction) is a dot product: the original's contiguous sum is as fast.
      if (x.dtype !== 'float32' || k === 0 || k === x.shape.length || outer <= 1 || inner === 0) return original(args);
      const outShape = keepDims ? [...new Array<number>(k).fill(1), ...innerShape] : innerShape;
      return runComposite(backend as tf.KernelBackend, [x], (xt) => {
        const columns = tf.reshape(xt, [1, outer, 1, inner]) as tf.Tensor4D;
        const means = tf.avgPool(columns, [outer, 1], 1, 'valid');
        return tf.reshape(kernelName === 'Sum' ? tf.mul(means, outer) : means, outShape);
      });
    },
  };
}

export const sumWrapper = leadingAxesReduce('Sum');
export const meanWrapper = leadingAxesReduce('Mean');
