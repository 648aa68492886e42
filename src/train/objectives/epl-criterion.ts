// The EPL criterion (LOSSES.md) for CosFace and ArcFace logits: for each row with positive set P
// and negatives N,
//   L = log( 1 + sum_{j in N} e^{z_j} * sum_{j in P} e^{-z_j} ),  mean over rows.
// Computed as softplus( logsumexp_N(z) + logsumexp_P(-z) ), which stays finite where the
// reference's float32 evaluation of the product overflows (z = s cos reaches +-64). For a single
// positive it equals softmax cross-entropy on the row.
import * as tf from '@tensorflow/tfjs';

/** Added to the excluded entries of a masked logsumexp: exp(z - 1e30 - max) is exactly 0. */
const EXCLUDED = -1e30;

function maskedLogSumExp(x: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  return tf.logSumExp(tf.add(x, tf.mul(tf.sub(1, mask), EXCLUDED)), 1) as tf.Tensor1D;
}

/** z [R, C] logits, positives [R, C] 0/1 mask of P (N is its complement). */
export function eplCriterion(logits: tf.Tensor2D, positives: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const negatives = tf.sub(1, positives) as tf.Tensor2D;
    const t = tf.add(maskedLogSumExp(logits, negatives), maskedLogSumExp(tf.neg(logits), positives));
    return tf.mean(tf.softplus(t)) as tf.Scalar;
  });
}
