// The BCE term of BCE3S (LOSSES.md):
//   bce(Z, T, N) = mean_i w_i sum_c [ T_ic softplus(-z_ic) + N_ic * l * softplus(z_ic) ],
// z clamped to [-strict, strict] first. Hard labels: T = Y, N = 1 - Y; partial negatives: both
// multiplied by the kept-class mask; soft targets of the mixed views: T = lam Y + (1 - lam) Y',
// N = [T == 0]. Stage 2's class-balanced BCE is the same sum with row weights w_i = w_{y_i} and
// no clamp. softplus is tfjs's (stable for large |z|).
import * as tf from '@tensorflow/tfjs';

export interface BinaryCrossEntropyOptions {
  /** Clamp of the logits; Infinity for none (stage 2). */
  strict?: number;
  /** Weight of the negative term (l in LOSSES.md). */
  negativeWeight?: number;
  /** Per-row weights w_i, [B]; the mean is still over B rows (divide by B, not by sum w). */
  rowWeights?: tf.Tensor1D;
}

export function binaryCrossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
  negatives: tf.Tensor2D,
  { strict = 64, negativeWeight = 1, rowWeights }: BinaryCrossEntropyOptions = {},
): tf.Scalar {
  return tf.tidy(() => {
    const z = Number.isFinite(strict) ? tf.clipByValue(logits, -strict, strict) : logits;
    const positive = tf.mul(targets, tf.softplus(tf.neg(z)));
    const negative = tf.mul(tf.mul(negatives, negativeWeight), tf.softplus(z));
    let perRow = tf.sum(tf.add(positive, negative), 1);
    if (rowWeights) perRow = tf.mul(perRow, rowWeights);
    return tf.mean(perRow) as tf.Scalar;
  });
}
