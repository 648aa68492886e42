// The four convolution gradient kernels of tfjs-node 4.22, replaced so that explicit padding
// reaches TensorFlow. tfjs-node's own Conv2DBackpropInput / Conv2DBackpropFilter throw "TF
// Backend supports only 'valid' and 'same' padding while padding was EXPLICIT", and its
// depthwise backprops pass padding EXPLICIT without `explicit_paddings` (TensorFlow: "explicit_paddings
// attribute must contain 8 values"), although its forward Conv2D / DepthwiseConv2dNative pass them.
// Every net of ours pads explicitly (the ONNX lowering needs the amounts), so without these no net
// trains on tfjs-node or tfjs-node-gpu. TensorFlow's ops take `explicit_paddings` (one
// [before, after] pair per dimension, in the data format's order) with padding "EXPLICIT".
//
// And two TensorFlow bugs, in its oneDNN kernels (the CPU kernels for 'SAME' / 'VALID' padding;
// TensorFlow 2.21, its Python API alike), both in 1x1 convolutions (measured over 1x1 and 3x3
// filters, 3 to 1024 channels, 1x1 to 14x14 maps, strides 1 and 2, against TF_ENABLE_ONEDNN_OPTS=0):
// - Conv2DBackpropInput returns values about 40% off with 512 or more input channels (right at
//   500 and below): MobileFaceNet's 512 -> 128 projections;
// - Conv2DBackpropFilter at stride 2 on an even map (its last row and column unread) writes
//   outside its buffers: "munmap_chunk(): invalid pointer", or a crash a few ops later (every
//   ResNet's 1x1 shortcut on 14x14 or 28x28 maps).
// TF_ENABLE_ONEDNN_OPTS=0 avoids both but makes every convolution gradient 5-10x slower. So no
// 1x1 gradient goes to those kernels: at stride 1 without padding each is one matrix product
// (dx = dy W^T, dW = x^T dy over the N*H*W rows); otherwise padding "EXPLICIT" selects
// TensorFlow's Eigen kernels, which are right (1x1 strided convolutions are a small share).
import * as tf from '@tensorflow/tfjs';
import { runComposite } from '../composite-kernel.js';
import { asNativeBackend, type NativeOpAttr } from './native-op.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** The attributes tfjs's gradients pass to these four kernels (dilations only to the depthwise ones). */
interface ConvGradientAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Backprop-input kernels: the shape of x. */
  inputShape?: number[];
  /** Backprop-filter kernels: the shape of the filter. */
  filterShape?: number[];
}

type Which = 'input' | 'filter';

type TfPadding = 'SAME' | 'VALID' | 'EXPLICIT';

/**
 * TensorFlow's padding for the op. Explicit amounts that equal 'VALID' or 'SAME' go as those:
 * TensorFlow's oneDNN gradient kernels take only them, explicit padding falls back to its Eigen
 * kernels, 4-5x slower at stride 1 (TF 2.21, 1 thread: 3x3 filter gradient on 64x28x28x16 6.8 ms
 * against 1.3, input gradient 8.3 against 2.1, depthwise input gradient 10.0 against 4.4).
 */
function tfPadding(info: tf.backend_util.Conv2DInfo, same: () => tf.backend_util.Conv2DInfo): TfPadding {
  const { type, top, bottom, left, right } = info.padInfo;
  if (type === 'SAME' || type === 'VALID') return type;
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return 'VALID';
  const s = same().padInfo;
  return s.top === top && s.bottom === bottom && s.left === left && s.right === right ? 'SAME' : 'EXPLICIT';
}

/** TensorFlow's attributes for the op, from tfjs's convolution geometry. */
function opAttrs(
  backend: ReturnType<typeof asNativeBackend>,
  info: tf.backend_util.Conv2DInfo,
  depthwise: boolean,
  padding: TfPadding,
): NativeOpAttr[] {
  const { binding } = backend;
  const nhwc = info.dataFormat === 'channelsLast';
  const spatial = (h: number, w: number) => (nhwc ? [1, h, w, 1] : [1, 1, h, w]);
  const { top, bottom, left, right } = info.padInfo;
  const attrs: NativeOpAttr[] = [
    { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'strides', type: binding.TF_ATTR_INT, value: spatial(info.strideHeight, info.strideWidth) },
    { name: 'padding', type: binding.TF_ATTR_STRING, value: padding },
    { name: 'data_format', type: binding.TF_ATTR_STRING, value: nhwc ? 'NHWC' : 'NCHW' },
    { name: 'dilations', type: binding.TF_ATTR_INT, value: spatial(info.dilationHeight, info.dilationWidth) },
  ];
  if (padding === 'EXPLICIT') {
    const pairs = nhwc ? [0, 0, top, bottom, left, right, 0, 0] : [0, 0, 0, 0, top, bottom, left, right];
    attrs.push({ name: 'explicit_paddings', type: binding.TF_ATTR_INT, value: pairs });
  }
  if (!depthwise) attrs.push({ name: 'use_cudnn_on_gpu', type: binding.TF_ATTR_BOOL, value: true });
  return attrs;
}

function gradientKernel(kernelName: string, which: Which, depthwise: boolean): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const native = asNativeBackend(backend as tf.KernelBackend);
      const a = attrs as unknown as ConvGradientAttrs;
      const dataFormat = tf.backend_util.convertConv2DDataFormat(a.dataFormat ?? 'NHWC');
      const dy = inputs.dy as tf.TensorInfo;
      // TensorFlow takes the shape of the tensor not given (x or the filter) as an int32 input.
      const known = which === 'input' ? (inputs.filter as tf.TensorInfo) : (inputs.x as tf.TensorInfo);
      const sizes = (which === 'input' ? a.inputShape : a.filterShape) as [number, number, number, number];
      const [xShape, filterShape] = which === 'input' ? [sizes, known.shape] : [known.shape, sizes];
      const geometry = (pad: ConvGradientAttrs['pad']) => tf.backend_util.computeConv2DInfo(
        xShape as [number, number, number, number], filterShape as [number, number, number, number],
        a.strides, a.dilations ?? 1, pad, a.dimRoundingMode, depthwise, dataFormat,
      );
      const info = geometry(a.pad);
      const pointwise = !depthwise && info.filterHeight === 1 && info.filterWidth === 1;
      if (pointwise && isPlainPointwise(info)) return pointwiseGradient(native, which, dy, known, sizes);
      const sizesTensor = tf.tensor1d(sizes, 'int32');
      try {
        const ordered = which === 'input' ? [sizesTensor, known, dy] : [known, sizesTensor, dy];
        // 1x1 gradients always go to the Eigen kernels (see above), the others to oneDNN where it can.
        const padding = pointwise ? 'EXPLICIT' : tfPadding(info, () => geometry('same'));
        return native.executeSingleOutput(kernelName, opAttrs(native, info, depthwise, padding), ordered);
      } finally {
        sizesTensor.dispose();
      }
    },
  };
}

/**
 * The gradient of a plain 1x1 convolution, y[rows, co] = x[rows, ci] W[ci, co] over the N*H*W
 * rows: dx = dy W^T (`known` is the filter) or dW = x^T dy (`known` is x).
 */
function pointwiseGradient(backend: tf.KernelBackend, which: Which, dy: tf.TensorInfo, known: tf.TensorInfo, sizes: number[]): tf.TensorInfo {
  return runComposite(backend, [dy, known], (dyt, k) => {
    const outChannels = dyt.shape[3] as number;
    const rows = tf.reshape(dyt, [-1, outChannels]);
    if (which === 'input') {
      const inChannels = k.shape[2] as number;
      return tf.reshape(tf.matMul(rows, tf.reshape(k, [inChannels, outChannels]), false, true), sizes);
    }
    const inChannels = k.shape[3] as number;
    return tf.reshape(tf.matMul(tf.reshape(k, [-1, inChannels]), rows, true, false), sizes);
  });
}

/** A 1x1 convolution that reads every input pixel once: NHWC, stride 1, no padding. */
function isPlainPointwise(info: tf.backend_util.Conv2DInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  return info.dataFormat === 'channelsLast' && info.strideHeight === 1 && info.strideWidth === 1 &&
    top === 0 && bottom === 0 && left === 0 && right === 0;
}

export const CONV_GRADIENT_KERNELS: readonly tf.KernelConfig[] = [
  gradientKernel('Conv2DBackpropInput', 'input', false),
  gradientKernel('Conv2DBackpropFilter', 'filter', false),
  gradientKernel('DepthwiseConv2dNativeBackpropInput', 'input', true),
  gradientKernel('DepthwiseConv2dNativeBackpropFilter', 'filter', true),
];
