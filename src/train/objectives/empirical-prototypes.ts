// EPL's empirical prototypes (LOSSES.md, "EPL"): a non-trainable Q [C, d], updated every step
// BEFORE the loss, from detached embeddings e_i = hat(x_i):
//   s_i = Q[y_i] . e_i            (the stored row as it is, not re-normalized)
//   f_i = softsign(s_i) = s_i / (1 + |s_i|)
//   Q[y_i] <- hat( f_i Q[y_i] + (1 - f_i) e_i )
// All B new rows are computed from Q as it was before the step and written by one scatter: a class
// that occurs several times in the batch gets its LAST sample's row (not a loop in which later
// samples see earlier updates). A hard sample (s_i <= 0, so f_i <= 0) pulls the prototype all the
// way to itself or past it: that is the reference's rule, kept exactly.
import * as tf from '@tensorflow/tfjs';
import { detach } from './detach.js';
import { l2NormalizeRows } from './l2-normalize-rows.js';
import { writeRowsLastWins } from './last-write-rows.js';

/**
 * Q after the update, from unit embeddings e [B, d] (normalize raw embeddings first) and labels.
 * No gradient flows into the result.
 */
export function updateEmpiricalPrototypes(prototypes: tf.Tensor2D, unitEmbeddings: tf.Tensor2D, labels: Int32Array): tf.Tensor2D {
  return tf.tidy(() => {
    const e = detach(unitEmbeddings);
    const own = tf.gather(prototypes, tf.tensor1d(labels, 'int32'));
    const s = tf.sum(tf.mul(own, e), 1, true);
    const f = tf.div(s, tf.add(1, tf.abs(s)));
    const rows = l2NormalizeRows(tf.add(tf.mul(f, own), tf.mul(tf.sub(1, f), e)) as tf.Tensor2D);
    return writeRowsLastWins(prototypes, labels, rows);
  });
}
