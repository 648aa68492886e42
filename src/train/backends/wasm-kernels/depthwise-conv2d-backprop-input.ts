// DepthwiseConv2dNativeBackpropInput for the wasm backend (missing in tfjs 4.22).
//
// dx[n,h,w,c] = sum over kh,kw,q of D[n, h + padTop - kh*dh, w + padLeft - kw*dw, c*M + q]
//                                   * W[kh, kw, c, q]
// where D is dy with (stride - 1) zeros inserted between its elements. That is a stride-1
// depthwise convolution of the zero-padded D with the spatially flipped filter (the usual
// transposed convolution), followed by a sum over the M outputs that came from each input channel.
import * as tf from '@tensorflow/tfjs';
import { cropNegativeEdges, pair, runComposite } from '../composite-kernel.js';
import { spreadByStride } from './conv2d-backprop-input.js';
import { InvariantError } from '../../../errors.js';

interface DepthwiseBackpropInputAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** The input gradient of tf.depthwiseConv2d (NHWC, filter [kh, kw, c, M]), from wasm kernels. */
export function depthwiseConv2dInputGradient(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: number | [number, number],
  pad: DepthwiseBackpropInputAttrs['pad'],
  dilations: number | [number, number] = 1,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const [batch, height, width, channels] = inputShape;
  const [, outHeight, outWidth, outChannels] = dy.shape;
  const [filterHeight, filterWidth, , multiplier] = filter.shape;
  const [strideH, strideW] = pair(strides);
  const [dilationH, dilationW] = pair(dilations);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape, [strideH, strideW], [dilationH, dilationW], pad, dimRoundingMode, true, 'channelsLast',
  );
  if (info.outHeight !== outHeight || info.outWidth !== outWidth) {
    throw new InvariantError(
      `DepthwiseConv2dNativeBackpropInput: dy is ${outHeight}x${outWidth} but the convolution ` +
        `produces ${info.outHeight}x${info.outWidth}`,
    );
  }
  const { top, left } = info.padInfo;
  // The spread D has oh*sh rows (its last sh-1 are zeros). Edges so that the stride-1 convolution
  // yields exactly H x W: before = the filter's reach minus the forward padding; after = whatever
  // is left (negative: rows of dy that no input pixel contributed to).
  const cropped = cropNegativeEdges(
    spreadByStride(dy, strideH, strideW),
    (filterHeight - 1) * dilationH - top,
    height + top - outHeight * strideH,
    (filterWidth - 1) * dilationW - left,
    width + left - outWidth * strideW,
  );
  if (cropped == null) return tf.zeros(inputShape);
  const { input, pad: explicit } = cropped;
  const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [filterHeight, filterWidth, outChannels, 1]) as tf.Tensor4D;
  const grad = tf.depthwiseConv2d(input, flipped, 1, explicit, 'NHWC', [dilationH, dilationW]);
  if (multiplier === 1) return grad;
  return tf.sum(tf.reshape(grad, [batch, height, width, channels, multiplier]), 4) as tf.Tensor4D;
}

export const depthwiseConv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as DepthwiseBackpropInputAttrs;
    return runComposite(backend as tf.KernelBackend, [dy, filter], (dyt, filtert) =>
      depthwiseConv2dInputGradient(
        a.inputShape, dyt as tf.Tensor4D, filtert as tf.Tensor4D, a.strides, a.pad, a.dilations ?? 1, a.dimRoundingMode,
      ),
    );
  },
};
