// What a training objective provides to the loop. Classification objectives see the network's
// output (logits from a head, or features for prototype-based objectives) and integer labels.
import type * as tf from '@tensorflow/tfjs';

export interface Objective {
  /** Stable name recorded in provenance, e.g. 'softmax-ce'. */
  readonly name: string;
  /** Scalar loss for one batch. Called inside tf.variableGrads. */
  loss(outputs: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar;
  /** Hyperparameters recorded in provenance. */
  readonly hyperparameters: Record<string, number | string>;
}
