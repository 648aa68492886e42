// BCE3S stage 2, classifier re-balancing (LOSSES.md "Stage 2"; the authors' head.py,
// Class_Balanced_Loss_with_normalize_weight in mode 'bce'): a class-balanced BCE over the
// classifier only, with effective-number class weights (Cui et al., CVPR 2019) and the partial
// negatives of stage 1.
//
// classBalancedBceLoss(input, options?) -> scalar
//   input.features     backbone features [B, d] (the backbone is frozen in stage 2)
//   input.labels       Int32Array [B]
//   input.weight, bias classifier W [C, d], b [C]; logits z_ic = hat(w_c) . x_i + b_c as in stage 1
//   input.classWeights effectiveNumberWeights(classCounts, beta), [C]
//   input.classScores  a permutation of 0..C-1 for the partial-class selection (./partial-classes.ts)
//   options.r          0.4
//   L = (1/B) sum_i w_{y_i} sum_{c kept} [ Y_ic softplus(-z_ic) + (1 - Y_ic) softplus(z_ic) ]
// No clamp, and divided by B, not by the sum of the weights.
import * as tf from '@tensorflow/tfjs';
import { bce3sLogits } from './bce3s-loss.js';
import { binaryCrossEntropy } from './binary-cross-entropy.js';
import { partialClassMask } from './partial-classes.js';
import { TrainError } from '../train-error.js';
import { InvariantError } from '../../errors.js';

/**
 * w_c = (1 - beta) / (1 - beta^{n_c}), normalized to sum to C. beta = 0.99999 in the run behind
 * the reported numbers, 0.9999 in the released script (LOSSES.md).
 */
export function effectiveNumberWeights(classCounts: ArrayLike<number>, beta: number): Float64Array {
  if (!(beta >= 0 && beta < 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `beta must be in [0, 1), got ${beta}`);
  const weights = Float64Array.from(classCounts, (n) => {
    if (!(n > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `class counts must be positive, got ${n}`);
    return (1 - beta) / (1 - beta ** n);
  });
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => (w / sum) * weights.length);
}

export interface ClassBalancedBceInput {
  features: tf.Tensor2D;
  labels: Int32Array;
  weight: tf.Tensor2D;
  bias: tf.Tensor1D;
  classWeights: ArrayLike<number>;
  classScores: ArrayLike<number>;
}

export function classBalancedBceLoss(input: ClassBalancedBceInput, { r = 0.4 }: { r?: number } = {}): tf.Scalar {
  const { features, labels, weight, bias, classWeights } = input;
  const [numClasses] = weight.shape;
  if (classWeights.length !== numClasses) throw new InvariantError(`${classWeights.length} class weights for ${numClasses} classes`);
  const mask = partialClassMask(labels, numClasses, r, input.classScores);
  const rowWeights = Float32Array.from(labels, (y) => classWeights[y]);
  return tf.tidy(() => {
    const kept = tf.tensor2d(mask, [1, numClasses]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat() as tf.Tensor2D;
    return binaryCrossEntropy(bce3sLogits(features, weight, bias), tf.mul(y, kept), tf.mul(tf.sub(1, y), kept), {
      strict: Infinity,
      rowWeights: tf.tensor1d(rowWeights),
    });
  });
}
