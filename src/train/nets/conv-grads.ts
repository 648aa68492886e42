// Convolutions whose gradients are built from ordinary tensor ops, for the backends that lack
// fast (or any) gradient kernels:
//   - 'cpu': Conv2DBackpropFilter and DepthwiseConv2dNativeBackpropFilter index through
//     TensorBuffer.get and run at a few MFLOP/s (measured: 3.1 s of a 3.5 s resnet8 step, and
//     2.3 s against a 27 ms forward for a depthwise 3x3 on 8x28x28x64);
//   - 'wasm' as shipped: has neither kernel (nor DepthwiseConv2dNativeBackpropInput), so it cannot
//     train convolutions at all; with these it trains on XNNPACK forward kernels. (When
//     src/train/backends has registered its own wasm gradient kernels, those are used instead.)
// The forward pass is the backend's own kernel, unchanged. Gradients are the textbook ones:
//   dW[i,j] = sum over batch and output positions of x_pad[tap (i,j)] (outer) dy
//   dx      = dy upsampled by the stride, correlated with the flipped kernel ("full" padding).
// On 'wasm' both are forward convolutions (XNNPACK), except the depthwise dW, a loop. On 'cpu'
// slicing and broadcasting are themselves slow (TensorBuffer.get again), so dW is a plain loop
// over the backend's arrays (read synchronously) and dx is the cpu kernel's (Conv2DBackpropInput
// and DepthwiseConv2dNativeBackpropInput cost about 1-4 forwards there).
import * as tf from '@tensorflow/tfjs';
import { withCustomGrad } from './custom-grad.js';

type Pads = [number, number, number, number]; // top, bottom, left, right
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Whether a training convolution should take the op-built gradients here: always on 'cpu'; on
 * 'wasm' only while the backend has no filter-gradient kernel of its own (src/train/backends
 * registers composite ones when it activates wasm; then those run, and this path stays out).
 */
export function useOpGradients(op: 'conv2d' | 'depthwiseConv2d'): boolean {
  const backend = tf.getBackend();
  if (backend === 'cpu') return true;
  if (backend !== 'wasm') return false;
  return tf.getKernel(op === 'conv2d' ? 'Conv2DBackpropFilter' : 'DepthwiseConv2dNativeBackpropFilter', 'wasm') === undefined;
}

const explicit = ([t, b, l, r]: Pads): ExplicitPadding => [[0, 0], [t, b], [l, r], [0, 0]];

/**
 * tf.conv2d (NHWC, dilation 1) with op-built gradients. `pads` must be the resolved padding
 * (see resolvePadding): it is what the forward kernel applies too.
 */
export function conv2dOpGrad(x: tf.Tensor4D, w: tf.Tensor4D, strides: [number, number], pads: Pads): tf.Tensor4D {
  const f = withCustomGrad(([xIn, wIn], save) => {
    const xx = xIn as tf.Tensor4D;
    const ww = wIn as tf.Tensor4D;
    save([xx, ww]);
    const value = tf.conv2d(xx, ww, strides, explicitOrValid(pads));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dy4 = dy as tf.Tensor4D;
      const kernel: [number, number] = [sw.shape[0], sw.shape[1]];
      if (tf.getBackend() === 'cpu') {
        // cpu's Conv2DBackpropInput costs about one forward; its filter kernel is the slow one.
        const dx = tf.conv2dTranspose(dy4, sw, sx.shape, strides, explicitOrValid(pads));
        return [dx, filterGradLoop(sx, dy4, kernel, sw.shape[3], false, strides, pads)];
      }
      // wasm: its Conv2DBackpropInput is a plain loop (12x the XNNPACK forward); both gradients
      // as forward convolutions run at forward speed.
      const dx = fullCorrelationSupported(kernel, pads)
        ? conv2dInputGrad(sx.shape, dy4, sw, strides, pads)
        : tf.conv2dTranspose(dy4, sw, sx.shape, strides, explicitOrValid(pads));
      return [dx, conv2dFilterGrad(sx, dy4, kernel, strides, pads)];
    };
    return { value, gradFunc };
  });
  return f(x, w) as tf.Tensor4D;
}

/** tf.depthwiseConv2d (NHWC, multiplier 1, dilation 1) with op-built gradients. */
export function depthwiseConv2dOpGrad(x: tf.Tensor4D, w: tf.Tensor4D, strides: [number, number], pads: Pads): tf.Tensor4D {
  const f = withCustomGrad(([xIn, wIn], save) => {
    const xx = xIn as tf.Tensor4D;
    const ww = wIn as tf.Tensor4D;
    save([xx, ww]);
    const value = tf.depthwiseConv2d(xx, ww, strides, explicitOrValid(pads));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dy4 = dy as tf.Tensor4D;
      const kernel: [number, number] = [sw.shape[0], sw.shape[1]];
      // The filter gradient is small (kh*kw*C sums): a loop over the arrays beats any op
      // formulation on both backends (measured on wasm: 9 slices+mul+sum 358 ms, loop ~30 ms).
      const dw = filterGradLoop(sx, dy4, kernel, 1, true, strides, pads);
      const dx = tf.getBackend() === 'cpu' ? nativeDepthwiseInputGrad(sx.shape, dy4, sw, strides, pads) : depthwiseInputGrad(sx.shape, dy4, sw, strides, pads);
      return [dx, dw];
    };
    return { value, gradFunc };
  });
  return f(x, w) as tf.Tensor4D;
}

/** Can depthwiseConv2dOpGrad differentiate this configuration? (multiplier 1, pads within the kernel) */
export function depthwiseOpGradSupported(kernel: [number, number], multiplier: number, pads: Pads): boolean {
  return multiplier === 1 && fullCorrelationSupported(kernel, pads);
}

/** The dx-as-correlation formulation needs every pad smaller than the kernel (always so for 'same' and pad=k//2). */
function fullCorrelationSupported(kernel: [number, number], [t, b, l, r]: Pads): boolean {
  return t < kernel[0] && b < kernel[0] && l < kernel[1] && r < kernel[1];
}

function explicitOrValid(pads: Pads): 'valid' | ExplicitPadding {
  return pads.every((p) => p === 0) ? 'valid' : explicit(pads);
}

function padded(x: tf.Tensor4D, [t, b, l, r]: Pads): tf.Tensor4D {
  return t || b || l || r ? tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]) : x;
}

/**
 * dW as one forward convolution with batch and channels swapped: the padded input seen as
 * [C, Hp, Wp, N] convolved with dy seen as an [OH, OW, N, CO] kernel dilated by the stride gives
 * out[c, i, j, o] = sum over n, y, x of x_pad[n, i + y*sh, j + x*sw, c] * dy[n, y, x, o].
 */
function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, [kh, kw]: [number, number], strides: [number, number], pads: Pads): tf.Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const co = dy.shape[3];
    const xt = tf.transpose(padded(x, pads), [3, 1, 2, 0]) as tf.Tensor4D;
    const kernel = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    let out = tf.conv2d(xt, kernel, 1, 'valid', 'NHWC', strides);
    // Rows and columns past the kernel come from padding the forward never read.
    if (out.shape[1] !== kh || out.shape[2] !== kw) out = tf.slice(out, [0, 0, 0, 0], [c, kh, kw, co]);
    return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** Per axis (input n, pad before p, kernel k, stride s, output o): the "full" padding of dx. */
function fullPadding(n: number, p: number, k: number, s: number, o: number): [number, number] {
  return [k - 1 - p, n + p - (o - 1) * s - 1];
}

/** dx of a convolution: the upsampled dy correlated with the kernel flipped and with in/out swapped. */
function conv2dInputGrad(xShape: number[], dy: tf.Tensor4D, w: tf.Tensor4D, [sh, sw]: [number, number], [t, , l]: Pads): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, wd] = xShape;
    const [kh, kw] = w.shape;
    const [, oh, ow] = dy.shape;
    const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const pad = [[0, 0], fullPadding(h, t, kh, sh, oh), fullPadding(wd, l, kw, sw, ow), [0, 0]] as ExplicitPadding;
    return tf.conv2d(upsample(dy, sh, sw), flipped, 1, pad);
  });
}

/**
 * dx of a depthwise convolution: dy with (stride-1) zeros between its rows and columns,
 * correlated with the kernel flipped in both spatial axes. Per axis (input n, pad before p,
 * kernel k, stride s, output o): padding k-1-p before and n+p-(o-1)s-1 after gives exactly n
 * outputs, which is dx cropped out of the padded input.
 */
function depthwiseInputGrad(xShape: number[], dy: tf.Tensor4D, w: tf.Tensor4D, [sh, sw]: [number, number], [t, , l]: Pads): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, wd] = xShape;
    const [kh, kw] = w.shape;
    const [, oh, ow] = dy.shape;
    const up = upsample(dy, sh, sw);
    const flipped = tf.reverse(w, [0, 1]) as tf.Tensor4D;
    return tf.depthwiseConv2d(up, flipped, 1, [[0, 0], fullPadding(h, t, kh, sh, oh), fullPadding(wd, l, kw, sw, ow), [0, 0]]);
  });
}

/** [N, OH, OW, C] -> [N, (OH-1)*sh+1, (OW-1)*sw+1, C] with zeros between the original values. */
function upsample(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  let y = dy;
  const [n, oh, ow, c] = dy.shape;
  if (sw > 1) {
    const zero = tf.zerosLike(y);
    y = tf.reshape(tf.stack([y, ...Array<tf.Tensor4D>(sw - 1).fill(zero)], 3), [n, oh, ow * sw, c]);
    y = tf.slice(y, [0, 0, 0, 0], [n, oh, (ow - 1) * sw + 1, c]);
  }
  if (sh > 1) {
    const w = y.shape[2];
    const zero = tf.zerosLike(y);
    y = tf.reshape(tf.stack([y, ...Array<tf.Tensor4D>(sh - 1).fill(zero)], 2), [n, oh * sh, w, c]);
    y = tf.slice(y, [0, 0, 0, 0], [n, (oh - 1) * sh + 1, w, c]);
  }
  return y;
}

/** The backend's DepthwiseConv2dNativeBackpropInput kernel (not exported as an op by tfjs). */
function nativeDepthwiseInputGrad(xShape: number[], dy: tf.Tensor4D, w: tf.Tensor4D, strides: [number, number], pads: Pads): tf.Tensor4D {
  const attrs = { strides, pad: explicitOrValid(pads), dilations: [1, 1], inputShape: xShape };
  return tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * dW by direct loops over flat arrays (cpu backend): for every output position and tap, adds
 * x[input channel] * dy[output channels]. Depthwise: output channel c reads only input channel c.
 */
function filterGradLoop(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  [kh, kw]: [number, number],
  outPerGroup: number,
  depthwise: boolean,
  [sh, sw]: [number, number],
  [t, , l]: Pads,
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [, oh, ow, co] = dy.shape;
  const xv = x.dataSync<'float32'>();
  const dyv = dy.dataSync<'float32'>();
  const dw = new Float32Array(kh * kw * c * (depthwise ? 1 : outPerGroup));
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const dyOff = ((b * oh + oy) * ow + ox) * co;
        for (let i = 0; i < kh; i++) {
          const iy = oy * sh + i - t;
          if (iy < 0 || iy >= h) continue;
          for (let j = 0; j < kw; j++) {
            const ix = ox * sw + j - l;
            if (ix < 0 || ix >= w) continue;
            const xOff = ((b * h + iy) * w + ix) * c;
            const tapOff = (i * kw + j) * c;
            if (depthwise) {
              for (let ch = 0; ch < c; ch++) dw[tapOff + ch] += xv[xOff + ch] * dyv[dyOff + ch];
            } else {
              for (let ch = 0; ch < c; ch++) {
                const xval = xv[xOff + ch];
                if (xval === 0) continue;
                const row = (tapOff + ch) * co;
                for (let o = 0; o < co; o++) dw[row + o] += xval * dyv[dyOff + o];
              }
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(dw, [kh, kw, c, depthwise ? 1 : co]);
}
