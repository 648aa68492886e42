// tf.customGrad with its inputs typed as tensors (tfjs types every argument Tensor | GradSaveFunc,
// the save function being the last one).
import * as tf from '@tensorflow/tfjs';

export type CustomGradBody = (
  inputs: tf.Tensor[],
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };

/** Returns f(...inputs) whose gradient with respect to each input is body's gradFunc. */
export function withCustomGrad(body: CustomGradBody): (...inputs: tf.Tensor[]) => tf.Tensor {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    return body(args.slice(0, -1) as tf.Tensor[], save);
  });
  return (...inputs: tf.Tensor[]) => f(...inputs);
}
