// Baseline objective: softmax cross-entropy over the logits of a linear head,
// L = -1/B sum_i log softmax(z_i)[y_i], computed stably as logsumexp(z_i) - z_i[y_i].
import * as tf from '@tensorflow/tfjs';
import type { Objective } from './objective.js';

export class SoftmaxCrossEntropy implements Objective {
  readonly name = 'softmax-ce';
  readonly hyperparameters: Record<string, number | string>;

  constructor(readonly numClasses: number, readonly labelSmoothing = 0) {
    this.hyperparameters = { labelSmoothing };
  }

  loss(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    return tf.tidy(() => {
      const onehot = tf.oneHot(labels, this.numClasses);
      return tf.losses.softmaxCrossEntropy(onehot, logits, undefined, this.labelSmoothing) as tf.Scalar;
    });
  }
}
