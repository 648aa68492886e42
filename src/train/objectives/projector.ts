// The projector g of BCE3S's contrastive term (LOSSES.md; head.py's ContrastiveLearning):
// Linear d->d, ReLU, Linear d->p (p = 128 in the reference), both with biases.
import * as tf from '@tensorflow/tfjs';

/**
 * Kernels in the TensorFlow convention, [in, out]: g(x) = relu(x w1 + b1) w2 + b2.
 * (PyTorch's nn.Linear stores the transpose, [out, in].)
 */
export interface ProjectorParams {
  w1: tf.Tensor2D; // [d, d]
  b1: tf.Tensor1D; // [d]
  w2: tf.Tensor2D; // [d, p]
  b2: tf.Tensor1D; // [p]
}

/** Projection dimension of the reference. */
export const PROJECTION_DIM = 128;

export function project(features: tf.Tensor2D, g: ProjectorParams): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(features, g.w1), g.b1)), g.w2), g.b2) as tf.Tensor2D);
}
