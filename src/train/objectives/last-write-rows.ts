// Row updates of a class-indexed buffer (BCE3S's memory, EPL's empirical prototypes) in which the
// last sample of a class in the batch wins, as the references' loop (BCE3S) and scatter (EPL) do.
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../errors.js';

/**
 * buffer with row labels[i] replaced by rows[i]; where a class occurs several times, its last
 * sample's row is written. Classes absent from the batch keep their row.
 */
export function writeRowsLastWins(buffer: tf.Tensor2D, labels: ArrayLike<number>, rows: tf.Tensor2D): tf.Tensor2D {
  const numClasses = buffer.shape[0];
  if (rows.shape[0] !== labels.length) throw new InvariantError(`${rows.shape[0]} rows for ${labels.length} labels`);
  const last = new Int32Array(numClasses);
  const written = new Uint8Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) throw new InvariantError(`label ${y} is not a class of 0..${numClasses - 1}`);
    last[y] = i;
    written[y] = 1;
  }
  return tf.tidy(() => {
    const replace = tf.tensor2d(written, [numClasses, 1], 'bool');
    return tf.where(tf.broadcastTo(replace, buffer.shape), tf.gather(rows, last), buffer) as tf.Tensor2D;
  });
}
