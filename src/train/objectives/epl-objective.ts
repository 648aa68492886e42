// Face-embedding objectives on the training contract (./objective.ts): EPL (empirical prototype
// learning, arXiv 2405.12447) on a CosFace, ArcFace or UniFace head, and the same heads without
// EPL as baselines ('margin'). The math is ./epl-loss.ts, as LOSSES.md states it; this file owns
// the parameters and the buffer, and splits the step for data parallelism:
//   - learned prototypes W [C, d], trainable (normal, std 0.01, as arcface_torch initializes
//     its class centres; only their direction matters);
//   - UniFace's bias b, a trainable scalar initialized to log(10 C);
//   - EPL only: empirical prototypes Q [C, d], a buffer initialized randomly with rows NOT unit
//     length (standard normal, as torch.randn), updated every step from the detached embeddings
//     of the WHOLE batch (ctx.gather: in data-parallel training each shard sees every sample's
//     update, so all replicas keep the same Q), before the loss; the loop stores the new Q after
//     the optimizer's step.
// The exported model keeps the backbone and an L2 normalization (task 'embedder'): W, b and Q are
// training-only and never reach the ONNX graph; Q (or hat(W) for the baselines) can be written
// out as a gallery seed (`prototypes()`).
import * as tf from '@tensorflow/tfjs';
import { normalArray, streamSeed } from '../../seeded-random.js';
import type { Batch } from '../data/batches.js';
import type { NamedWeights } from '../nets/net.js';
import { detach } from './detach.js';
import { updateEmpiricalPrototypes } from './empirical-prototypes.js';
import { EPL_DEFAULTS, eplLossAfterUpdate, marginLoss, type EplLossOptions } from './epl-loss.js';
import { l2NormalizeRows } from './l2-normalize-rows.js';
import { DEFAULT_MARGIN, MARGIN_HEADS, uniFaceBiasInit, type MarginHead } from './margin-heads.js';
import type { IdentityPrototypes, InferenceHead, LossContext, Objective, PreparedStep, StageSpec, StepLoss, StepTensors } from './objective.js';
import { VariableSet } from './variable-set.js';
import { TrainError } from '../train-error.js';

export interface EplObjectiveOptions {
  /** Feature (embedding) dimension of the backbone. */
  features: number;
  /** Training identities. */
  classes: number;
  seed: number;
  /** false: the head alone, without empirical prototypes (the baseline). */
  epl: boolean;
  head: MarginHead;
  /** s (64). */
  scale?: number;
  /** m; default per head (DEFAULT_MARGIN). */
  margin?: number;
  /** EPL's adaptive-margin factor (0.7). */
  k?: number;
  /** First 1-based epoch with EPL's second block (4). */
  startEpoch?: number;
}

/** The shared value carrying the whole batch's labels to every shard's loss (EPL's update). */
const BATCH_LABELS = 'batchLabels';

export class EplObjective implements Objective {
  readonly name: string;
  readonly task = 'embedder';
  readonly stages: readonly StageSpec[] = [{ name: 'train', trainBackbone: true }];
  readonly hyperparameters: Record<string, number | string | boolean>;
  private readonly vars: VariableSet;
  private readonly prototypesVar: tf.Variable;
  private readonly empirical?: tf.Variable;
  private readonly bias?: tf.Variable;
  private readonly options: EplLossOptions;

  constructor(private readonly o: EplObjectiveOptions) {
    if (!MARGIN_HEADS.includes(o.head)) throw new TrainError('TRAIN_CONFIG_INVALID', `Unsupported head: "${String(o.head)}". Should be one of: ${MARGIN_HEADS.join(', ')}`);
    this.name = o.epl ? 'epl' : 'margin';
    this.options = {
      head: o.head,
      scale: o.scale ?? EPL_DEFAULTS.scale,
      margin: o.margin ?? DEFAULT_MARGIN[o.head],
      k: o.k ?? EPL_DEFAULTS.k,
      startEpoch: o.startEpoch ?? EPL_DEFAULTS.startEpoch,
    };
    const { scale, margin, k, startEpoch } = this.options;
    if (!(scale! > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `scale: expected a positive number, got ${scale}`);
    if (!(margin! >= 0 && margin! < Math.PI / 2)) throw new TrainError('TRAIN_CONFIG_INVALID', `margin: expected a number in [0, pi/2), got ${margin}`);
    if (!(k! >= 0 && k! <= 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `epl-k: expected a number in [0, 1], got ${k}`);
    if (!(Number.isInteger(startEpoch) && startEpoch! >= 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `epl-start-epoch: expected a positive integer, got ${startEpoch}`);
    this.hyperparameters = { head: o.head, scale: scale!, margin: margin!, ...(o.epl ? { k: k!, startEpoch: startEpoch! } : {}) };

    this.vars = new VariableSet(this.name);
    const { classes: C, features: d, seed } = o;
    this.prototypesVar = this.vars.add('prototypes', [C, d], normalArray(C * d, 0.01, streamSeed(seed, 'prototypes')), true);
    if (o.head === 'uniface') this.bias = this.vars.add('uniface.bias', [], Float32Array.of(uniFaceBiasInit(C)), true);
    if (o.epl) this.empirical = this.vars.add('empirical_prototypes', [C, d], normalArray(C * d, 1, streamSeed(seed, 'empirical_prototypes')), false);
  }

  trainableVariables(): tf.Variable[] {
    return this.vars.trainable();
  }

  getWeights(): NamedWeights {
    return this.vars.getWeights();
  }

  setWeights(weights: NamedWeights): void {
    this.vars.setWeights(weights);
  }

  prepare(batch: Batch): PreparedStep {
    return { inputs: batch.pixels, views: 1, size: batch.size, labels: batch.labels, rows: {}, shared: { [BATCH_LABELS]: Array.from(batch.labels) } };
  }

  loss(step: StepTensors, ctx: LossContext): StepLoss {
    const x = step.features[0];
    const input = {
      embeddings: x,
      labels: step.labelValues,
      prototypes: this.prototypesVar as tf.Tensor as tf.Tensor2D,
      uniFaceBias: this.bias as tf.Tensor as tf.Scalar | undefined,
    };
    if (!this.empirical) return { loss: marginLoss(input, this.options), terms: {}, updates: [] };
    const batchLabels = Int32Array.from(step.shared[BATCH_LABELS] as readonly number[]);
    // The update needs every sample of the batch, in batch order; no gradient flows through it.
    const all = ctx.gather(detach(l2NormalizeRows(x))) as tf.Tensor2D;
    const empiricalPrototypes = updateEmpiricalPrototypes(this.empirical as tf.Tensor as tf.Tensor2D, all, batchLabels);
    const loss = eplLossAfterUpdate({ ...input, empiricalPrototypes, epoch: ctx.epoch }, this.options);
    return { loss, terms: {}, updates: [{ variable: this.empirical, value: empiricalPrototypes }] };
  }

  inferenceHead(): InferenceHead {
    return { kind: 'l2normalize' };
  }

  prototypes(): IdentityPrototypes {
    const { classes, features: dimension } = this.o;
    if (this.empirical) return { kind: 'empirical', values: this.empirical.dataSync<'float32'>().slice(), classes, dimension };
    const values = tf.tidy(() => l2NormalizeRows(this.prototypesVar as tf.Tensor as tf.Tensor2D).dataSync<'float32'>().slice());
    return { kind: 'learned', values, classes, dimension };
  }

  dispose(): void {
    this.vars.dispose();
  }
}
