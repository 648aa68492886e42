// detach(x) (torch) / stop_gradient(x) (TensorFlow): the value of x, treated as a constant by the
// gradient. tfjs 4.22 has no such op; customGrad with a zero gradient is one.
import * as tf from '@tensorflow/tfjs';

const stopGradient = tf.customGrad((...inputs) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

/** The value of `x`, through which no gradient flows. */
export function detach<T extends tf.Tensor>(x: T): T {
  return stopGradient(x) as T;
}
