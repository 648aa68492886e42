// The baselines of issue 7: softmax cross-entropy and logit-adjusted cross-entropy (Menon et al.,
// "Long-tail learning via logit adjustment", ICLR 2021, the loss form): during training the
// logits get tau * log(prior_c) added, prior_c = n_c / sum n; at test time the raw logits are used.
//   L = mean_i [ logsumexp_c(z_ic + tau log pi_c) - (z_iy + tau log pi_y) ]    (tau = 1)
import * as tf from '@tensorflow/tfjs';
import { TrainError } from '../train-error.js';
import { InvariantError } from '../../errors.js';

/** mean_i [ logsumexp(z_i) - z_iy ], computed stably. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  const [batch, numClasses] = logits.shape;
  if (batch !== labels.length) throw new InvariantError(`${batch} rows of logits for ${labels.length} labels`);
  return tf.tidy(() => {
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat();
    const picked = tf.sum(tf.mul(logits, y), 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), picked)) as tf.Scalar;
  });
}

/** tau * log(n_c / sum n), [C]: the offsets logit adjustment adds in training. */
export function logPriorOffsets(classCounts: ArrayLike<number>, tau = 1): Float32Array {
  let total = 0;
  for (let c = 0; c < classCounts.length; c++) {
    if (!(classCounts[c] > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `class counts must be positive, got ${classCounts[c]} for class ${c}`);
    total += classCounts[c];
  }
  return Float32Array.from(classCounts, (n) => tau * Math.log(n / total));
}

export function logitAdjustedCrossEntropy(logits: tf.Tensor2D, labels: Int32Array, classCounts: ArrayLike<number>, tau = 1): tf.Scalar {
  if (classCounts.length !== logits.shape[1]) throw new InvariantError(`${classCounts.length} class counts for ${logits.shape[1]} classes`);
  return tf.tidy(() => softmaxCrossEntropy(tf.add(logits, tf.tensor1d(logPriorOffsets(classCounts, tau))) as tf.Tensor2D, labels));
}
