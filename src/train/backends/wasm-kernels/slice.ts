// Slice for the wasm backend, wrapping tfjs 4.22's own. Theirs first copies the whole input out of
// the wasm heap (readSync), then copies one innermost row at a time: cropping a [64, 29, 29, 16]
// gradient to [64, 28, 28, 16] took 11 ms, 50 times a plain copy of the same data. Here axes the
// slice takes whole are merged into the axis before them (an NHWC crop of H and W copies runs of
// w*C values), and each run is moved inside the heap with copyWithin. Strings go to the original.
import * as tf from '@tensorflow/tfjs';
import type { KernelWrapper } from '../register-kernels.js';

/** The parts of tfjs's wasm backend this kernel uses (BackendWasm is not exported by type). */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * Merges each axis the slice takes whole into the axis before it, and drops axes of size 1:
 * the same slice of the same memory, in the fewest axes (the last one is the run copied at once).
 */
export function mergeSliceAxes(shape: number[], begin: number[], size: number[]): { shape: number[]; begin: number[]; size: number[] } {
  const s: number[] = [];
  const b: number[] = [];
  const z: number[] = [];
  shape.forEach((dim, i) => {
    if (dim === 1) return;
    const last = s.length - 1;
    if (last >= 0 && begin[i] === 0 && size[i] === dim) {
      s[last] *= dim;
      b[last] *= dim;
      z[last] *= dim;
    } else {
      s.push(dim);
      b.push(begin[i]);
      z.push(size[i]);
    }
  });
  if (s.length === 0) return { shape: [1], begin: [0], size: [1] };
  return { shape: s, begin: b, size: z };
}

export const sliceWrapper: KernelWrapper = {
  kernelName: 'Slice',
  backendName: 'wasm',
  wrap: (original) => (args) => {
    const { inputs, attrs, backend } = args;
    const { x } = inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original(args);
    const a = attrs as unknown as { begin: number | number[]; size?: number | number[] };
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, a.begin, a.size);
    const b = backend as unknown as WasmHeapBackend;
    const out = b.makeOutput(size, x.dtype);
    const count = size.reduce((p, d) => p * d, 1);
    if (count === 0) return out;
    const from = b.typedArrayFromHeap(x);
    const to = b.typedArrayFromHeap(out);
    // One view of the whole heap in the tensors' element type: copyWithin moves runs in place.
    const heap = new (from.constructor as Float32ArrayConstructor)(from.buffer);
    const width = from.BYTES_PER_ELEMENT;
    const m = mergeSliceAxes(x.shape, begin, size);
    const rank = m.shape.length;
    const strides = new Array<number>(rank);
    strides[rank - 1] = 1;
    for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * m.shape[i + 1];
    const run = m.size[rank - 1];
    let src = from.byteOffset / width + m.begin.reduce((p, bi, i) => p + bi * strides[i], 0);
    let dst = to.byteOffset / width;
    const index = new Array<number>(rank).fill(0); // odometer over the outer axes
    for (let copied = 0; copied < count; copied += run) {
      heap.copyWithin(dst, src, src + run);
      dst += run;
      // Advance to the next run: innermost outer axis first, carrying into the ones before.
      let axis = rank - 2;
      for (; axis >= 0; axis--) {
        index[axis]++;
        src += strides[axis];
        if (index[axis] < m.size[axis]) break;
        src -= strides[axis] * m.size[axis];
        index[axis] = 0;
      }
    }
    return out;
  },
};
