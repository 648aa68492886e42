// Conv2DBackpropFilter for the wasm backend: the filter gradient of conv2d, which tfjs 4.22's wasm
// backend lacks (so any conv net fails in the backward pass there).
//
// dW[kh,kw,ci,co] = sum over n,oh,ow of x[n, oh*sh + kh*dh - padTop, ow*sw + kw*dw - padLeft, ci]
//                                        * dy[n, oh, ow, co]
// This is itself a convolution, with batch and channels swapped: take x transposed to
// [ci, H, W, n] as the input (batch = ci, channels = n) and dy transposed to [oh, ow, n, co] as the
// filter, dilated by the forward stride, strided by the forward dilation, padded like the forward
// pass. Its output [ci, kh, kw, co] is the gradient up to a transpose. Running it through the
// backend's own Conv2D (XNNPACK) makes it as fast as the forward pass.
import * as tf from '@tensorflow/tfjs';
import { cropNegativeEdges, pair, runComposite } from '../composite-kernel.js';
import { InvariantError } from '../../../errors.js';

interface Conv2DBackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  /** Not passed by tfjs's conv2d gradient (it refuses dilation > 1), accepted for completeness. */
  dilations?: number | [number, number];
}

/** The filter gradient of tf.conv2d (NHWC x, filter [kh, kw, ci, co]), built from wasm kernels. */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DBackpropFilterAttrs['pad'],
  dilations: number | [number, number] = 1,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const [, height, width] = x.shape;
  const [, outHeight, outWidth] = dy.shape;
  const [filterHeight, filterWidth] = filterShape;
  const [strideH, strideW] = pair(strides);
  const [dilationH, dilationW] = pair(dilations);
  // computeConv2DInfo gives TensorFlow's padding exactly, including 'same' at stride 2 putting
  // the odd extra row/column at the bottom/right.
  const info = tf.backend_util.computeConv2DInfo(
    x.shape, filterShape, [strideH, strideW], [dilationH, dilationW], pad, dimRoundingMode, false, 'channelsLast',
  );
  if (info.outHeight !== outHeight || info.outWidth !== outWidth) {
    throw new InvariantError(
      `Conv2DBackpropFilter: dy is ${outHeight}x${outWidth} but the convolution produces ` +
        `${info.outHeight}x${info.outWidth}`,
    );
  }
  const { top, left } = info.padInfo;
  // Rows the gradient convolution must see so that it yields exactly filterHeight outputs; the
  // forward pass may not have read the last rows (valid padding, stride > 1): crop those.
  const neededH = (filterHeight - 1) * dilationH + (outHeight - 1) * strideH + 1;
  const neededW = (filterWidth - 1) * dilationW + (outWidth - 1) * strideW + 1;
  const xT = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, H, W, n]
  const cropped = cropNegativeEdges(xT, top, neededH - height - top, left, neededW - width - left);
  if (cropped == null) return tf.zeros(filterShape);
  const { input, pad: explicit } = cropped;
  const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, n, co]
  // tfjs (like TF) allows stride > 1 or dilation > 1, not both; the forward pass had the same
  // restriction, so the swapped pair is valid too.
  const grad = tf.conv2d(input, dyT, [dilationH, dilationW], explicit, 'NHWC', [strideH, strideW]);
  return tf.transpose(grad, [1, 2, 0, 3]); // [kh, kw, ci, co]
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as unknown as Conv2DBackpropFilterAttrs;
    return runComposite(backend as tf.KernelBackend, [x, dy], (xt, dyt) => {
      let x4 = xt as tf.Tensor4D;
      let dy4 = dyt as tf.Tensor4D;
      if (a.dataFormat === 'NCHW') {
        x4 = tf.transpose(x4, [0, 2, 3, 1]);
        dy4 = tf.transpose(dy4, [0, 2, 3, 1]);
      }
      return conv2dFilterGradient(x4, dy4, a.filterShape, a.strides, a.pad, a.dilations ?? 1, a.dimRoundingMode);
    });
  },
};
