// Helpers for kernels that are compositions of kernels the backend already has (wasm's and
// tfjs-node's kernel sets).
//
// A kernel function receives TensorInfos (no Tensor objects, no reference held for us) and must
// return TensorInfos whose data the backend owns. To reuse tf ops (which run on the active
// backend, the one the kernel is registered for) we wrap each input in a Tensor that holds its own reference, compute inside
// tf.tidy so every intermediate is freed, then hand the result's data over to the engine.
import * as tf from '@tensorflow/tfjs';

/**
 * Runs `compute` on tensors wrapping `inputs` and returns its result as a TensorInfo owned by the
 * backend. Intermediates are disposed; the inputs keep exactly the references they came with.
 */
export function runComposite(
  backend: tf.KernelBackend,
  inputs: tf.TensorInfo[],
  compute: (...tensors: tf.Tensor[]) => tf.Tensor,
): tf.TensorInfo {
  const engine = tf.engine();
  const result = tf.tidy(() => {
    const wrapped = inputs.map((info) => {
      // The wrapper releases one reference when tidy disposes it: take that reference first, so
      // the caller's data survives.
      backend.incRef(info.dataId);
      return engine.makeTensorFromTensorInfo(info, backend);
    });
    return compute(...wrapped);
  });
  // Keep the data alive past the disposal of our Tensor object; the engine wraps the returned
  // TensorInfo in its own output Tensor, which then holds the only reference.
  backend.incRef(result.dataId);
  const out: tf.TensorInfo = { dataId: result.dataId, shape: result.shape.slice(), dtype: result.dtype };
  result.dispose();
  return out;
}

/** Explicit NHWC padding as tf.conv2d / tf.depthwiseConv2d accept it. */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Applies per-edge spatial padding to an NHWC tensor where the amounts may be negative: negative
 * edges are cropped here (slice), non-negative ones are returned as the explicit padding to hand
 * to the convolution, which pads for free. Returns null when the crop leaves nothing: every value
 * the convolution would read is padding, so its result is zeros (XNNPACK rejects empty inputs).
 */
export function cropNegativeEdges(
  t: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
): { input: tf.Tensor4D; pad: ExplicitPadding } | null {
  const [n, h, w, c] = t.shape;
  const cropTop = Math.max(0, -top);
  const cropBottom = Math.max(0, -bottom);
  const cropLeft = Math.max(0, -left);
  const cropRight = Math.max(0, -right);
  if (h - cropTop - cropBottom <= 0 || w - cropLeft - cropRight <= 0) return null;
  const input =
    cropTop + cropBottom + cropLeft + cropRight > 0
      ? tf.slice(t, [0, cropTop, cropLeft, 0], [n, h - cropTop - cropBottom, w - cropLeft - cropRight, c])
      : t;
  const pad: ExplicitPadding = [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ];
  return { input, pad };
}

/** Normalizes a stride/dilation attribute (number or pair) to a pair. */
export function pair(value: number | [number, number] | undefined, fallback = 1): [number, number] {
  if (value == null) return [fallback, fallback];
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}
