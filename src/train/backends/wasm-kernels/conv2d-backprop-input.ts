// Conv2DBackpropInput for the wasm backend, replacing tfjs 4.22's own. Theirs is a direct C++ loop
// outside XNNPACK: measured on the benchmark CNN it took 97 ms of a 250 ms training step for one
// layer, 15x the forward convolution of the same layer.
//
// dx[n,h,w,ci] = sum over kh,kw,co of dy[n,oh,ow,co] * W[kh,kw,ci,co]
//                 where oh*s + kh - padTop = h and ow*s + kw - padLeft = w.
// Built on XNNPACK's Conv2D in the sub-pixel form of a transposed convolution: split the filter
// taps by their residue r = kh mod s; for each residue the rows h with (h + padTop) mod s = r are a
// plain stride-1 correlation of dy with that slice of the filter. One Conv2D with s*s*ci output
// channels computes every residue at once, and a reshape/transpose (DepthToSpace's layout)
// interleaves them back into rows and columns. Its cost is about (ceil(k/s)*s / k)^2 times the forward convolution (16/9 for 3x3
// stride 2), against s^2 * 9/9 for convolving a zero-inserted dy. Stride 1 (nothing inserted) and
// unequal strides use the zero-inserted form.
import * as tf from '@tensorflow/tfjs';
import { cropNegativeEdges, pair, runComposite } from '../composite-kernel.js';
import { InvariantError } from '../../../errors.js';

interface Conv2DBackpropInputAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** Inserts (stride - 1) zeros after every row and column of an NHWC tensor. */
export function spreadByStride(t: tf.Tensor4D, strideH: number, strideW: number): tf.Tensor4D {
  if (strideH === 1 && strideW === 1) return t;
  const [n, h, w, c] = t.shape;
  // Padding a [N, h, 1, w, 1, C] view after each element, then merging axes, interleaves zeros.
  return tf.reshape(
    tf.pad(tf.reshape(t, [n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, strideH - 1], [0, 0], [0, strideW - 1], [0, 0]]),
    [n, h * strideH, w * strideW, c],
  );
}

/** The input gradient of tf.conv2d (NHWC, filter [kh, kw, ci, co], dilation 1), from wasm kernels. */
export function conv2dInputGradient(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: number | [number, number],
  pad: Conv2DBackpropInputAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const [, height, width] = inputShape;
  const [, outHeight, outWidth] = dy.shape;
  const [filterHeight, filterWidth] = filter.shape;
  const [strideH, strideW] = pair(strides);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape, [strideH, strideW], 1, pad, dimRoundingMode, false, 'channelsLast',
  );
  if (info.outHeight !== outHeight || info.outWidth !== outWidth) {
    throw new InvariantError(
      `Conv2DBackpropInput: dy is ${outHeight}x${outWidth} but the convolution produces ` +
        `${info.outHeight}x${info.outWidth}`,
    );
  }
  const { top, left } = info.padInfo;
  // Stride 1 needs no residues: the flipped filter over dy, padded to give exactly H x W (no crop
  // of a larger result afterwards). Unequal strides have no sub-pixel form here.
  if (strideH !== strideW || strideH === 1) return zeroInsertedInputGradient(inputShape, dy, filter, strideH, strideW, top, left);
  const stride = strideH;
  const [, , inChannels, outChannels] = filter.shape;
  // Taps per residue class, the filter padded (with zero taps) to whole multiples of the stride.
  const tapsH = Math.ceil(filterHeight / stride);
  const tapsW = Math.ceil(filterWidth / stride);
  // V[th, tw, co, (rh, rw, ci)] = W[rh + (tapsH-1-th)*s, rw + (tapsW-1-tw)*s, ci, co]: the taps of
  // each residue, in reverse order (a correlation with dy, which runs the other way).
  let subFilters: tf.Tensor = tf.pad(filter, [[0, tapsH * stride - filterHeight], [0, tapsW * stride - filterWidth], [0, 0], [0, 0]]);
  subFilters = tf.reshape(subFilters, [tapsH, stride, tapsW, stride, inChannels, outChannels]);
  subFilters = tf.reverse(subFilters, [0, 2]);
  subFilters = tf.transpose(subFilters, [0, 2, 5, 1, 3, 4]);
  subFilters = tf.reshape(subFilters, [tapsH, tapsW, outChannels, stride * stride * inChannels]);
  // Row q of the result holds input rows q*s + r - padTop for every residue r; q must cover the
  // input rows [0, H): q < ceil((padTop + H) / s). dy is padded by taps-1 before (terms with
  // oh < 0) and as needed after; dy rows past that range feed no input row and are cropped.
  const rowsQ = Math.ceil((top + height) / stride);
  const colsQ = Math.ceil((left + width) / stride);
  // (Never empty: at least min(outHeight, rowsQ) >= 1 rows of dy remain.)
  const { input, pad: explicit } = cropNegativeEdges(dy, tapsH - 1, rowsQ - outHeight, tapsW - 1, colsQ - outWidth)!;
  const residues = tf.conv2d(input, subFilters as tf.Tensor4D, 1, explicit, 'NHWC'); // [n, Q, Qw, s*s*ci]
  // Interleave: [n, Q, Qw, (rh, rw, ci)] -> [n, Q*s + rh, Qw*s + rw, ci]. This is DepthToSpace,
  // but wasm's DepthToSpace is a slow scalar loop (measured 4x the time of this transpose).
  const [batch, q, qw] = residues.shape;
  const interleaved = tf.reshape(
    tf.transpose(tf.reshape(residues, [batch, q, qw, stride, stride, inChannels]), [0, 1, 3, 2, 4, 5]),
    [batch, q * stride, qw * stride, inChannels],
  );
  return tf.slice(interleaved, [0, top, left, 0], [-1, height, width, -1]) as tf.Tensor4D;
}

/** The plain transposed convolution: dy with zeros inserted, convolved with the flipped filter. */
function zeroInsertedInputGradient(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strideH: number,
  strideW: number,
  top: number,
  left: number,
): tf.Tensor4D {
  const [, height, width] = inputShape;
  const [, outHeight, outWidth] = dy.shape;
  const [filterHeight, filterWidth] = filter.shape;
  // The spread dy has outHeight*strideH rows (its last strideH-1 are zeros); edges chosen so the
  // stride-1 convolution yields exactly height x width. A negative edge drops rows of dy that no
  // input pixel contributed to (explicit padding larger than the filter's reach).
  const cropped = cropNegativeEdges(
    spreadByStride(dy, strideH, strideW),
    filterHeight - 1 - top,
    height + top - outHeight * strideH,
    filterWidth - 1 - left,
    width + left - outWidth * strideW,
  );
  if (cropped == null) return tf.zeros(inputShape);
  const { input, pad: explicit } = cropped;
  const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [kh, kw, co, ci]
  return tf.conv2d(input, flipped, 1, explicit, 'NHWC');
}

export const conv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as Conv2DBackpropInputAttrs;
    return runComposite(backend as tf.KernelBackend, [dy, filter], (dyt, filtert) => {
      if (a.dataFormat === 'NCHW') {
        const [n, c, h, w] = a.inputShape;
        const dx = conv2dInputGradient(
          [n, h, w, c], tf.transpose(dyt as tf.Tensor4D, [0, 2, 3, 1]), filtert as tf.Tensor4D, a.strides, a.pad, a.dimRoundingMode,
        );
        return tf.transpose(dx, [0, 3, 1, 2]);
      }
      return conv2dInputGradient(
        a.inputShape, dyt as tf.Tensor4D, filtert as tf.Tensor4D, a.strides, a.pad, a.dimRoundingMode,
      );
    });
  },
};
