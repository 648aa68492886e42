// UnsortedSegmentSum for the wasm backend (missing in tfjs 4.22). tfjs uses it as the gradient of
// tf.gather, so embedding tables and prototype lookups cannot train on wasm without it.
//
// out[s, ...] = sum of data[i, ...] over the i with segmentIds[i] == s; ids outside
// [0, numSegments) are dropped (TensorFlow's semantics). Built on ScatterNd, which accumulates
// duplicate indices: out-of-range ids are sent to one extra segment that is sliced off.
import * as tf from '@tensorflow/tfjs';
import { runComposite } from '../composite-kernel.js';

/** tf.unsortedSegmentSum for segmentIds of any rank k over the first k axes of data. */
export function unsortedSegmentSumByScatter(data: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  const idsRank = segmentIds.rank;
  const innerShape = data.shape.slice(idsRank);
  const count = segmentIds.size;
  const innerSize = innerShape.reduce((a, b) => a * b, 1);
  const outShape = [numSegments, ...innerShape];
  if (count === 0 || innerSize === 0 || numSegments === 0) return tf.zeros(outShape, data.dtype);
  const ids = tf.reshape(segmentIds, [count]);
  const inRange = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, numSegments));
  const target = tf.where(inRange, ids, tf.fill([count], numSegments, 'int32'));
  const summed = tf.scatterND(
    tf.reshape(target, [count, 1]),
    tf.reshape(data, [count, innerSize]),
    [numSegments + 1, innerSize],
  );
  return tf.reshape(tf.slice(summed, [0, 0], [numSegments, innerSize]), outShape);
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = attrs as unknown as { numSegments: number };
    return runComposite(backend as tf.KernelBackend, [x, segmentIds], (xt, idst) =>
      unsortedSegmentSumByScatter(xt, idst, numSegments),
    );
  },
};
