// DepthwiseConv2dNativeBackpropFilter for the wasm backend (missing in tfjs 4.22).
//
// dW[kh,kw,c,q] = sum over n,oh,ow of x[n, oh*sh + kh*dh - padTop, ow*sw + kw*dw - padLeft, c]
//                                      * dy[n, oh, ow, c*M + q]          (M = channel multiplier)
// Each (c, n) pair is an independent correlation of one image plane with one dy plane, so put the
// pairs in the channel axis of a single depthwise convolution: input x as [1, H, W, c*N + n],
// filter dy as [oh, ow, c*N + n, q], dilated by the forward stride. Its output
// [1, kh, kw, (c*N + n)*M + q] summed over n is the gradient.
import * as tf from '@tensorflow/tfjs';
import { cropNegativeEdges, pair, runComposite } from '../composite-kernel.js';
import { InvariantError } from '../../../errors.js';

interface DepthwiseBackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** The filter gradient of tf.depthwiseConv2d (NHWC x, filter [kh, kw, c, M]), from wasm kernels. */
export function depthwiseConv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: DepthwiseBackpropFilterAttrs['pad'],
  dilations: number | [number, number] = 1,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  const [, outHeight, outWidth] = dy.shape;
  const [filterHeight, filterWidth, , multiplier] = filterShape;
  const [strideH, strideW] = pair(strides);
  const [dilationH, dilationW] = pair(dilations);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape, filterShape, [strideH, strideW], [dilationH, dilationW], pad, dimRoundingMode, true, 'channelsLast',
  );
  if (info.outHeight !== outHeight || info.outWidth !== outWidth) {
    throw new InvariantError(
      `DepthwiseConv2dNativeBackpropFilter: dy is ${outHeight}x${outWidth} but the convolution ` +
        `produces ${info.outHeight}x${info.outWidth}`,
    );
  }
  const { top, left } = info.padInfo;
  const neededH = (filterHeight - 1) * dilationH + (outHeight - 1) * strideH + 1;
  const neededW = (filterWidth - 1) * dilationW + (outWidth - 1) * strideW + 1;
  const planes = batch === 1
    ? x
    : tf.reshape(tf.transpose(x, [1, 2, 3, 0]), [1, height, width, channels * batch]) as tf.Tensor4D;
  const cropped = cropNegativeEdges(planes, top, neededH - height - top, left, neededW - width - left);
  if (cropped == null) return tf.zeros(filterShape);
  const { input, pad: explicit } = cropped;
  const dyPlanes = batch === 1
    ? tf.reshape(dy, [outHeight, outWidth, channels, multiplier])
    : tf.reshape(
        tf.transpose(tf.reshape(dy, [batch, outHeight, outWidth, channels, multiplier]), [1, 2, 3, 0, 4]),
        [outHeight, outWidth, channels * batch, multiplier],
      );
  const grad = tf.depthwiseConv2d(
    input, dyPlanes as tf.Tensor4D, [dilationH, dilationW], explicit, 'NHWC', [strideH, strideW],
  ); // [1, kh, kw, (c*N + n)*M + q]
  if (batch === 1) return tf.reshape(grad, filterShape);
  return tf.sum(tf.reshape(grad, [filterHeight, filterWidth, channels, batch, multiplier]), 3) as tf.Tensor4D;
}

export const depthwiseConv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as unknown as DepthwiseBackpropFilterAttrs;
    return runComposite(backend as tf.KernelBackend, [x, dy], (xt, dyt) =>
      depthwiseConv2dFilterGradient(
        xt as tf.Tensor4D, dyt as tf.Tensor4D, a.filterShape, a.strides, a.pad, a.dilations ?? 1, a.dimRoundingMode,
      ),
    );
  },
};
