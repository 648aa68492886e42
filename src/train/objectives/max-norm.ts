// MaxNorm of BCE3S stage 2 (LOSSES.md; the authors' utils/regularizers.py, MaxNorm_via_PGD with
// thresh = 0.1): once per epoch, after the epoch's steps, every classifier row whose L2 norm
// exceeds t is rescaled to norm t. t = min_norm + 0.1 (max_norm - min_norm), from the row norms
// measured once, at the start of stage 2. The bias is not projected (its threshold is infinite in
// the reference). Logits use hat(W), so the projection changes no logit, only later gradients.
import * as tf from '@tensorflow/tfjs';

/** The row norms of W, [C]. */
export function rowNorms(weight: tf.Tensor2D): Float64Array {
  return Float64Array.from(tf.tidy(() => tf.norm(weight, 'euclidean', 1)).dataSync());
}

/** t = min + fraction (max - min) of the row norms (measure at the start of stage 2). */
export function maxNormThreshold(weight: tf.Tensor2D, fraction = 0.1): number {
  const norms = rowNorms(weight);
  let min = Infinity;
  let max = -Infinity;
  for (const n of norms) {
    min = Math.min(min, n);
    max = Math.max(max, n);
  }
  return min + fraction * (max - min);
}

/** W with each row of norm > threshold scaled to norm threshold; other rows unchanged. */
export function projectMaxNorm(weight: tf.Tensor2D, threshold: number): tf.Tensor2D {
  return tf.tidy(() => {
    const norms = tf.norm(weight, 'euclidean', 1, true);
    const scale = tf.where(tf.greater(norms, threshold), tf.div(threshold, norms), tf.onesLike(norms));
    return tf.mul(weight, scale) as tf.Tensor2D;
  });
}
