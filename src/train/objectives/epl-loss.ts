// EPL: empirical prototype learning for face embeddings (arXiv 2405.12447), as
// ../../../../shared/reference/LOSSES.md states it, on a CosFace, ArcFace or UniFace head.
//
// eplLoss(input, options) -> { loss, empiricalPrototypes }
//   input.embeddings          raw embeddings x [B, d] (normalized here: e_i = hat(x_i))
//   input.labels              Int32Array [B], identities
//   input.prototypes          learned prototypes W [C, d] (trainable); cos_ic = hat(w_c) . e_i
//   input.empiricalPrototypes Q [C, d] (not trainable)
//   input.epoch               1-based; the second block exists from options.startEpoch = 4 on
//   input.uniFaceBias         UniFace's learned scalar b (init uniFaceBiasInit(C) = log(10 C))
//   options                   head, scale s = 64, margin m, k = 0.7, negativeWeight l = 1,
//                             startEpoch = 4
// Steps:
//   1. Q is updated first, from detached embeddings (./empirical-prototypes.ts); the update
//      happens in every epoch, also before startEpoch.
//   2. Block 1: cos (clamped to [-1 + 1e-7, 1 - 1e-7] for ArcFace only).
//   3. From startEpoch: block 2, v_ic = e_i . hat(Q_c) with the UPDATED Q (detached), and at the
//      label column v_iy - k detach(v_iy): the adaptive margin, a constant for the gradient.
//   4. The head's loss (./margin-heads.ts) on the stacked 2B rows [block 1; block 2], labels
//      repeated: both blocks get the head's margin (CosFace: block 2 gets no m).
// Out: loss (scalar) and Q after the update (no gradient).
//
// marginLoss(input, options) is the same head WITHOUT EPL (the baselines): block 1 only, no Q.
//
// eplLossAfterUpdate(input, options) is steps 2-4 alone, with input.empiricalPrototypes already
// updated: the objective (./epl-objective.ts) updates Q from the whole batch (ctx.gather) and
// computes this on its shard; eplLoss = the update on the batch, then this.
//
// Differentiable with tf.variableGrads / tf.grad with respect to the embeddings, W and b. When
// called inside tf.variableGrads, tf.keep the returned empiricalPrototypes.
import * as tf from '@tensorflow/tfjs';
import { detach } from './detach.js';
import { updateEmpiricalPrototypes } from './empirical-prototypes.js';
import { l2NormalizeRows } from './l2-normalize-rows.js';
import { ARCFACE_COS_LIMIT, marginHeadLoss, type MarginHead } from './margin-heads.js';
import { InvariantError } from '../../errors.js';

export interface MarginLossInput {
  embeddings: tf.Tensor2D;
  labels: Int32Array;
  prototypes: tf.Tensor2D;
  uniFaceBias?: tf.Scalar;
}

export interface EplLossInput extends MarginLossInput {
  empiricalPrototypes: tf.Tensor2D;
  epoch: number;
}

export interface MarginLossOptions {
  head: MarginHead;
  scale?: number;
  margin: number;
  /** UniFace's l. */
  negativeWeight?: number;
}

export interface EplLossOptions extends MarginLossOptions {
  /** Adaptive margin factor k of the second block. */
  k?: number;
  /** First (1-based) epoch with the second block. */
  startEpoch?: number;
}

export const EPL_DEFAULTS = { scale: 64, k: 0.7, startEpoch: 4, negativeWeight: 1 } as const;

/** Block 1's cosines hat(w_c) . e_i, clamped for ArcFace. */
function learnedCosines(unitEmbeddings: tf.Tensor2D, prototypes: tf.Tensor2D, head: MarginHead): tf.Tensor2D {
  const cos = tf.matMul(unitEmbeddings, l2NormalizeRows(prototypes), false, true) as tf.Tensor2D;
  return head === 'arcface' ? (tf.clipByValue(cos, -ARCFACE_COS_LIMIT, ARCFACE_COS_LIMIT) as tf.Tensor2D) : cos;
}

function headOptions(input: MarginLossInput, o: MarginLossOptions) {
  return {
    head: o.head,
    scale: o.scale ?? EPL_DEFAULTS.scale,
    margin: o.margin,
    uniFaceBias: input.uniFaceBias,
    negativeWeight: o.negativeWeight ?? EPL_DEFAULTS.negativeWeight,
  };
}

function checkBatch(input: MarginLossInput): void {
  if (input.embeddings.shape[0] !== input.labels.length) {
    throw new InvariantError(`${input.embeddings.shape[0]} embeddings for ${input.labels.length} labels`);
  }
}

/** The head alone (block 1 only): the baseline without EPL. */
export function marginLoss(input: MarginLossInput, options: MarginLossOptions): tf.Scalar {
  checkBatch(input);
  return tf.tidy(() => {
    const e = l2NormalizeRows(input.embeddings);
    const onehot = tf.oneHot(tf.tensor1d(input.labels, 'int32'), input.prototypes.shape[0]).toFloat() as tf.Tensor2D;
    return marginHeadLoss(learnedCosines(e, input.prototypes, options.head), onehot, headOptions(input, options));
  });
}

export function eplLoss(input: EplLossInput, options: EplLossOptions): { loss: tf.Scalar; empiricalPrototypes: tf.Tensor2D } {
  checkBatch(input);
  checkEpoch(input.epoch);
  return tf.tidy(() => {
    const empiricalPrototypes = updateEmpiricalPrototypes(input.empiricalPrototypes, l2NormalizeRows(input.embeddings), input.labels);
    const loss = eplLossAfterUpdate({ ...input, empiricalPrototypes }, options);
    return { loss, empiricalPrototypes };
  });
}

/** Blocks 1 and 2 and the head's loss, against empirical prototypes that are already updated. */
export function eplLossAfterUpdate(input: EplLossInput, options: EplLossOptions): tf.Scalar {
  checkBatch(input);
  checkEpoch(input.epoch);
  const k = options.k ?? EPL_DEFAULTS.k;
  const startEpoch = options.startEpoch ?? EPL_DEFAULTS.startEpoch;
  return tf.tidy(() => {
    const e = l2NormalizeRows(input.embeddings);
    const onehot = tf.oneHot(tf.tensor1d(input.labels, 'int32'), input.prototypes.shape[0]).toFloat() as tf.Tensor2D;
    let cosines = learnedCosines(e, input.prototypes, options.head);
    let labels = onehot;
    if (input.epoch >= startEpoch) {
      const v = tf.matMul(e, l2NormalizeRows(detach(input.empiricalPrototypes)), false, true);
      const adjusted = tf.sub(v, tf.mul(tf.mul(onehot, k), detach(v))) as tf.Tensor2D;
      cosines = tf.concat([cosines, adjusted], 0);
      labels = tf.concat([onehot, onehot], 0);
    }
    return marginHeadLoss(cosines, labels, headOptions(input, options));
  });
}

function checkEpoch(epoch: number): void {
  if (!(Number.isInteger(epoch) && epoch >= 1)) throw new InvariantError(`epoch must be a 1-based integer, got ${epoch}`);
}
