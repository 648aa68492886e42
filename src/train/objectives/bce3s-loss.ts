// BCE3S stage 1 (AAAI 2026, arXiv 2511.14097), term by term as ../../../../shared/reference/LOSSES.md
// states it: joint learning (sample-classifier), contrastive learning (sample-sample) and uniform
// learning (classifier-classifier), all binary cross-entropies.
//
// bce3sLoss(input, options?) -> { loss, terms, memory }
//   input.features      { original, mixup, cutmix }: backbone features of the three views, [B, d]
//                       each (mixup/cutmix built from the same batch and a second batch x'; see
//                       src/train/data/mixed-views.ts)
//   input.labels        Int32Array [B]: labels of the original view
//   input.softTargets   T [B, C] = lam Y + (1 - lam) Y' (shared by both mixed views)
//   input.negativeMask  N [B, C] = [T == 0]
//   input.weight, bias  classifier W [C, d] and b [C]; logits z_ic = hat(w_c) . x_i + b_c
//   input.projector     g's parameters (./projector.ts), p = 128 in the reference
//   input.memory        class memory M [C, p] (not trainable)
//   input.epoch         1-based; in epoch 1 the contrastive term is skipped (memory only filled)
//   input.classScores   a permutation of 0..C-1: the partial-class selection's random scores
//                       (./partial-classes.ts), drawn by the caller from its seeded generator
//   options             r = 0.4, strict = 64, l = 1, temperature tau = 1, ccScale cc_s = 1,
//                       weights sc 1 / ss 0.1 / cc 1
// Out:
//   loss   L = L_sc + 0.1 L_ss + 1.0 L_cc
//   terms  scOriginal (partial negatives), scMixup, scCutmix, sc = their mean, ss (0 in epoch 1),
//          cc: scalars
//   memory M after the step: M[y_i] <- g(x_i) of the ORIGINAL view, raw (not normalized; the
//          cosine normalizes), no gradient; later samples of the batch overwrite earlier ones.
//
// Differentiable with tf.variableGrads / tf.grad with respect to the features, W, b and the
// projector. Every returned tensor is new: when called inside tf.variableGrads (which disposes
// what its function created, except the loss), tf.keep the memory and terms you want afterwards.
import * as tf from '@tensorflow/tfjs';
import { binaryCrossEntropy } from './binary-cross-entropy.js';
import { l2NormalizeRows } from './l2-normalize-rows.js';
import { writeRowsLastWins } from './last-write-rows.js';
import { partialClassMask } from './partial-classes.js';
import { project, type ProjectorParams } from './projector.js';
import { InvariantError } from '../../errors.js';

export interface Bce3sViews<T> {
  original: T;
  mixup: T;
  cutmix: T;
}

export interface Bce3sInput {
  features: Bce3sViews<tf.Tensor2D>;
  labels: Int32Array;
  softTargets: tf.Tensor2D;
  negativeMask: tf.Tensor2D;
  weight: tf.Tensor2D;
  bias: tf.Tensor1D;
  projector: ProjectorParams;
  memory: tf.Tensor2D;
  epoch: number;
  classScores: ArrayLike<number>;
}

export interface Bce3sOptions {
  r: number;
  strict: number;
  negativeWeight: number;
  temperature: number;
  ccScale: number;
  scWeight: number;
  ssWeight: number;
  ccWeight: number;
}

/** The reference's hyperparameters (LOSSES.md; scripts/run_stage1.sh of the authors). */
export const BCE3S_DEFAULTS: Readonly<Bce3sOptions> = {
  r: 0.4,
  strict: 64,
  negativeWeight: 1,
  temperature: 1,
  ccScale: 1,
  scWeight: 1,
  ssWeight: 0.1,
  ccWeight: 1,
};

export interface Bce3sTerms {
  scOriginal: tf.Scalar;
  scMixup: tf.Scalar;
  scCutmix: tf.Scalar;
  sc: tf.Scalar;
  ss: tf.Scalar;
  cc: tf.Scalar;
}

export interface Bce3sOutput {
  loss: tf.Scalar;
  terms: Bce3sTerms;
  memory: tf.Tensor2D;
}

/** z_ic = hat(w_c) . x_i + b_c: normalized classifier rows, raw features (LOSSES.md). */
export function bce3sLogits(features: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.matMul(features, l2NormalizeRows(weight), false, true), bias) as tf.Tensor2D);
}

/** Uniform learning: K = cc_s hat(W) hat(W)^T; mean_c sum_j [j=c] softplus(-K_cj) + [j!=c] softplus(K_cj). */
export function uniformLoss(weight: tf.Tensor2D, ccScale = 1): tf.Scalar {
  return tf.tidy(() => {
    const unit = l2NormalizeRows(weight);
    const k = tf.mul(tf.matMul(unit, unit, false, true), ccScale) as tf.Tensor2D;
    const eye = tf.eye(weight.shape[0]) as tf.Tensor2D;
    return binaryCrossEntropy(k, eye, tf.sub(1, eye) as tf.Tensor2D, { strict: Infinity });
  });
}

export function bce3sLoss(input: Bce3sInput, options: Partial<Bce3sOptions> = {}): Bce3sOutput {
  const o = { ...BCE3S_DEFAULTS, ...options };
  const { features, labels, softTargets, negativeMask, weight, bias, projector, memory, epoch } = input;
  const [numClasses] = weight.shape;
  if (!(Number.isInteger(epoch) && epoch >= 1)) throw new InvariantError(`epoch must be a 1-based integer, got ${epoch}`);
  if (features.original.shape[0] !== labels.length) {
    throw new InvariantError(`${features.original.shape[0]} original features for ${labels.length} labels`);
  }
  const mask = partialClassMask(labels, numClasses, o.r, input.classScores);
  return tf.tidy(() => {
    const bce = (z: tf.Tensor2D, t: tf.Tensor2D, n: tf.Tensor2D) => binaryCrossEntropy(z, t, n, { strict: o.strict, negativeWeight: o.negativeWeight });
    // 1. Joint learning. Original view: hard labels over the kept classes only.
    const kept = tf.tensor2d(mask, [1, numClasses]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat() as tf.Tensor2D;
    const scOriginal = bce(bce3sLogits(features.original, weight, bias), tf.mul(y, kept), tf.mul(tf.sub(1, y), kept));
    const scMixup = bce(bce3sLogits(features.mixup, weight, bias), softTargets, negativeMask);
    const scCutmix = bce(bce3sLogits(features.cutmix, weight, bias), softTargets, negativeMask);
    const sc = tf.div(tf.addN([scOriginal, scMixup, scCutmix]), 3) as tf.Scalar;
    // 3. Uniform learning.
    const cc = uniformLoss(weight, o.ccScale);
    // 2. Contrastive learning against the memory as it was before this step.
    let ss: tf.Scalar = tf.scalar(0);
    if (epoch > 1) {
      const unitMemory = l2NormalizeRows(memory);
      const similarity = (x: tf.Tensor2D) =>
        tf.div(tf.matMul(l2NormalizeRows(project(x, projector)), unitMemory, false, true), o.temperature) as tf.Tensor2D;
      ss = tf.add(bce(similarity(features.mixup), softTargets, negativeMask), bce(similarity(features.cutmix), softTargets, negativeMask));
    }
    const loss = tf.addN([tf.mul(sc, o.scWeight), tf.mul(ss, o.ssWeight), tf.mul(cc, o.ccWeight)]) as tf.Scalar;
    // Memory update from the original view's projections. They do not enter the loss, so no
    // gradient reaches them.
    const nextMemory = writeRowsLastWins(memory, labels, project(features.original, projector));
    return { loss, terms: { scOriginal, scMixup, scCutmix, sc, ss, cc }, memory: nextMemory };
  });
}
