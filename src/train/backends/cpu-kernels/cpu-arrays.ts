// Reading and writing the cpu backend's arrays from a kernel. The cpu backend keeps every tensor
// as a plain typed array in JavaScript memory: a kernel reads its inputs synchronously and hands
// back a new array, with no copy either way.
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../../errors.js';

/** The part of tfjs's MathBackendCPU our kernels use (@tensorflow/tfjs does not export its type). */
interface CpuBackend {
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo;
}

/** The values of a numeric input, as the backend holds them (do not write to them). */
export function values(backend: tf.KernelBackend, info: tf.TensorInfo): ArrayLike<number> {
  if (info.dtype === 'string' || info.dtype === 'complex64') {
    throw new InvariantError(`cpu training kernels take real numbers, got a ${info.dtype} tensor`);
  }
  return (backend as unknown as CpuBackend).readSync(info.dataId) as ArrayLike<number>;
}

/** A new float32 tensor on the backend that owns `data`. */
export function output(backend: tf.KernelBackend, shape: number[], data: Float32Array): tf.TensorInfo {
  return (backend as unknown as CpuBackend).makeTensorInfo(shape, 'float32', data);
}

/** A [N, C, H, W] array rearranged as [N, H, W, C]; channels-last arrays are returned as they are. */
export function channelsLast(
  data: ArrayLike<number>,
  shape: readonly number[],
  dataFormat: 'channelsFirst' | 'channelsLast',
): ArrayLike<number> {
  if (dataFormat === 'channelsLast') return data;
  const [batch, channels, height, width] = shape;
  const plane = height * width;
  const out = new Float32Array(data.length);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const from = (n * channels + c) * plane;
      const to = n * plane * channels + c;
      for (let p = 0; p < plane; p++) out[to + p * channels] = data[from + p];
    }
  }
  return out;
}
