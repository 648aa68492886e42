// hat(v) = v / max(||v||, eps) for every row, as LOSSES.md writes it (torch's F.normalize with
// eps = 1e-5 in both reference implementations).
import * as tf from '@tensorflow/tfjs';

/** Default epsilon of hat(v) in LOSSES.md. */
export const NORMALIZE_EPS = 1e-5;

/**
 * Each row divided by max(its L2 norm, eps). Written as sqrt(max(||v||^2, eps^2)), which has the
 * same value, and the same gradient wherever ||v|| > eps, but stays finite for an all-zero row
 * (sqrt's derivative at 0 is infinite).
 */
export function l2NormalizeRows<T extends tf.Tensor2D>(x: T, eps = NORMALIZE_EPS): T {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), eps * eps))) as T);
}
