// BCE3S on the objective contract (./objective.ts): the two stages of the authors' reference
// (LOSSES.md; main_cifar100_stage1.py, main_cifar100_stage2.py, head.py):
//   joint      backbone, classifier W [C, d] + b and the projector g train with bce3sLoss
//              (./bce3s-loss.ts): joint BCE on the original view with partial negatives and on the
//              mixup / cutmix views with their shared soft targets, the contrastive term against
//              the class memory M (off in epoch 1), the uniform term on hat(W).
//   rebalance  the backbone is frozen (its batch norm stays in training mode); W and b alone train
//              with the class-balanced BCE (./class-balanced-bce.ts), and after every epoch W is
//              projected by MaxNorm (./max-norm.ts) with the threshold measured when the stage
//              began, kept in a buffer so a resumed run projects with the same threshold.
// The exported head is hat(W)^T and b: the served model computes z_c = hat(w_c) . x + b_c, the
// logits both stages train. The projector and the memory are for training only.
//
// Initialization as the reference's modules: W ~ N(0, 1/d) (kaiming_normal_, a = 1, fan_in),
// b ~ U(-1/sqrt(d), 1/sqrt(d)); the projector's layers as torch.nn.Linear (weights and biases
// U(-1/sqrt(fan_in), 1/sqrt(fan_in))); the memory starts at zero (it is only read from epoch 2,
// after epoch 1 wrote a row for every class that occurred).
import * as tf from '@tensorflow/tfjs';
import { normalArray, streamSeed, uniformArray } from '../../seeded-random.js';
import type { Batch } from '../data/batches.js';
import { mixedViews } from '../data/mixed-views.js';
import type { NamedWeights } from '../nets/net.js';
import { BCE3S_DEFAULTS, bce3sLoss, type Bce3sOptions } from './bce3s-loss.js';
import { classBalancedBceLoss, effectiveNumberWeights } from './class-balanced-bce.js';
import { requireEveryClass } from './class-counts.js';
import { l2NormalizeRows } from './l2-normalize-rows.js';
import { maxNormThreshold, projectMaxNorm } from './max-norm.js';
import type { InferenceHead, LossContext, Objective, PrepareContext, PreparedStep, StageSpec, StepLoss, StepPosition, StepTensors } from './objective.js';
import { randomClassScores } from './partial-classes.js';
import { PROJECTION_DIM, type ProjectorParams } from './projector.js';
import { VariableSet } from './variable-set.js';
import { TrainError } from '../train-error.js';
import { InvariantError } from '../../errors.js';

export const BCE3S_STAGES: readonly StageSpec[] = [
  { name: 'joint', trainBackbone: true },
  { name: 'rebalance', trainBackbone: false },
];

/** The objective's own options (recorded in the run's objectiveOptions). */
export interface Bce3sSettings extends Bce3sOptions {
  /** Stage 2's effective-number beta: 0.99999 in the logged run behind the paper's numbers (LOSSES.md). */
  beta: number;
  /** Stage 2's MaxNorm threshold t = min + fraction (max - min) of the row norms (the reference's thresh 0.1). */
  maxNormFraction: number;
  /** Output dimension p of the projector (128 in the reference). */
  projectionDim: number;
}

export const BCE3S_SETTINGS: Readonly<Bce3sSettings> = { ...BCE3S_DEFAULTS, beta: 0.99999, maxNormFraction: 0.1, projectionDim: PROJECTION_DIM };

export interface Bce3sContext {
  features: number;
  classes: number;
  classCounts: readonly number[];
  seed: number;
  /** [height, width, channels] of the images (the mixed views are built on them). */
  inputShape: readonly [number, number, number];
}

export class Bce3s implements Objective {
  readonly name = 'bce3s';
  readonly task = 'classifier';
  readonly stages = BCE3S_STAGES;
  readonly hyperparameters: Record<string, number>;
  private readonly settings: Bce3sSettings;
  private readonly vars = new VariableSet('bce3s');
  private readonly weight: tf.Variable;
  private readonly bias: tf.Variable;
  private readonly projector: ProjectorParams;
  private readonly memory: tf.Variable;
  /** Stage 2's MaxNorm threshold; 0 until the stage begins. */
  private readonly maxNorm: tf.Variable;
  private classWeights?: Float64Array;

  constructor(private readonly ctx: Bce3sContext, settings: Partial<Bce3sSettings> = {}) {
    this.settings = { ...BCE3S_SETTINGS, ...settings };
    checkSettings(this.settings, ctx.classes);
    requireEveryClass('bce3s', ctx.classCounts);
    this.hyperparameters = { ...this.settings };
    const { features: d, classes: C, seed } = ctx;
    const p = this.settings.projectionDim;
    const bound = (fanIn: number) => 1 / Math.sqrt(fanIn);
    const uniform = (name: string, shape: number[], fanIn: number) =>
      this.vars.add(name, shape, uniformArray(shape.reduce((a, b) => a * b, 1), -bound(fanIn), bound(fanIn), streamSeed(seed, `bce3s ${name}`)), true);
    this.weight = this.vars.add('classifier.weight', [C, d], normalArray(C * d, 1 / Math.sqrt(d), streamSeed(seed, 'bce3s classifier.weight')), true);
    this.bias = uniform('classifier.bias', [C], d);
    this.projector = {
      w1: uniform('projector.w1', [d, d], d) as tf.Tensor2D,
      b1: uniform('projector.b1', [d], d) as tf.Tensor1D,
      w2: uniform('projector.w2', [d, p], d) as tf.Tensor2D,
      b2: uniform('projector.b2', [p], d) as tf.Tensor1D,
    };
    this.memory = this.vars.add('memory', [C, p], new Float32Array(C * p), false);
    this.maxNorm = this.vars.add('maxnorm.threshold', [1], new Float32Array(1), false);
  }

  trainableVariables(stage: string): tf.Variable[] {
    return stage === 'rebalance' ? [this.weight, this.bias] : this.vars.trainable();
  }

  getWeights(): NamedWeights {
    return this.vars.getWeights();
  }

  setWeights(weights: NamedWeights): void {
    this.vars.setWeights(weights);
  }

  async prepare(batch: Batch, ctx: PrepareContext): Promise<PreparedStep> {
    const C = this.ctx.classes;
    if (ctx.stage === 'rebalance') {
      const classScores = Array.from(randomClassScores(C, ctx.random));
      return { inputs: batch.pixels, views: 1, size: batch.size, labels: batch.labels, rows: {}, shared: { classScores } };
    }
    const partner = await ctx.drawBatch(batch.size);
    const views = mixedViews(batch.pixels, partner.pixels, batch.labels, partner.labels, C, ...this.ctx.inputShape, ctx.random);
    const classScores = Array.from(randomClassScores(C, ctx.random));
    // One backbone pass over [original; mixup; cutmix], as the reference concatenates them, so
    // batch norm normalizes with the statistics of all three views.
    const inputs = new Float32Array(3 * batch.pixels.length);
    inputs.set(batch.pixels, 0);
    inputs.set(views.mixup, batch.pixels.length);
    inputs.set(views.cutmix, 2 * batch.pixels.length);
    return {
      inputs,
      views: 3,
      size: batch.size,
      labels: batch.labels,
      rows: { softTargets: { width: C, values: views.softTargets }, negativeMask: { width: C, values: views.negativeMask } },
      shared: { lam: views.lam, classScores },
    };
  }

  loss(step: StepTensors, ctx: LossContext): StepLoss {
    const classScores = step.shared.classScores as readonly number[];
    if (ctx.stage === 'rebalance') {
      this.classWeights ??= effectiveNumberWeights(this.ctx.classCounts, this.settings.beta);
      const loss = classBalancedBceLoss(
        { features: step.features[0], labels: step.labelValues, weight: this.weight as tf.Tensor2D, bias: this.bias as tf.Tensor1D, classWeights: this.classWeights, classScores },
        { r: this.settings.r },
      );
      return { loss, terms: {}, updates: [] };
    }
    const [original, mixup, cutmix] = step.features;
    const out = bce3sLoss(
      {
        features: { original, mixup, cutmix },
        labels: step.labelValues,
        softTargets: step.rows.softTargets,
        negativeMask: step.rows.negativeMask,
        weight: this.weight as tf.Tensor2D,
        bias: this.bias as tf.Tensor1D,
        projector: this.projector,
        memory: this.memory as tf.Tensor2D,
        epoch: ctx.epoch,
        classScores,
      },
      this.settings,
    );
    const { sc, ss, cc } = out.terms;
    return { loss: out.loss, terms: { sc, ss, cc }, updates: [{ variable: this.memory, value: out.memory }] };
  }

  /** Stage 2 measures the MaxNorm threshold from the classifier that stage 1 left. */
  beginStage(stage: string): void {
    if (stage !== 'rebalance') return;
    const t = maxNormThreshold(this.weight as tf.Tensor2D, this.settings.maxNormFraction);
    tf.tidy(() => this.maxNorm.assign(tf.tensor1d([t])));
  }

  /** Stage 2: MaxNorm once per epoch, after the epoch's steps. */
  endEpoch(position: StepPosition): void {
    if (position.stage !== 'rebalance') return;
    const t = this.maxNorm.dataSync()[0];
    if (!(t > 0)) throw new InvariantError(`bce3s: no MaxNorm threshold (${t}); stage rebalance did not begin with beginStage`);
    tf.tidy(() => this.weight.assign(projectMaxNorm(this.weight as tf.Tensor2D, t)));
  }

  /** The MaxNorm threshold stage 2 projects with (0 before the stage began). */
  maxNormThreshold(): number {
    return this.maxNorm.dataSync()[0];
  }

  inferenceHead(): InferenceHead {
    const weight = tf.tidy(() => tf.transpose(l2NormalizeRows(this.weight as tf.Tensor2D)).dataSync<'float32'>().slice());
    return { kind: 'linear', weight, bias: this.bias.dataSync<'float32'>().slice(), classes: this.ctx.classes };
  }

  dispose(): void {
    this.vars.dispose();
  }
}

function checkSettings(s: Bce3sSettings, classes: number): void {
  const k = Math.trunc(s.r * classes);
  if (!(s.r > 0 && s.r <= 1 && k >= 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `bce3s: r must be in (0, 1] with int(r * C) >= 1, got r = ${s.r} for C = ${classes}`);
  if (!(s.beta >= 0 && s.beta < 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `bce3s: beta must be in [0, 1), got ${s.beta}`);
  if (!(s.maxNormFraction >= 0 && s.maxNormFraction <= 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `bce3s: maxnorm-thresh must be in [0, 1], got ${s.maxNormFraction}`);
  if (!(Number.isInteger(s.projectionDim) && s.projectionDim > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `bce3s: projection-dim must be a positive integer, got ${s.projectionDim}`);
  if (!(s.temperature > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `bce3s: temperature must be positive, got ${s.temperature}`);
  for (const key of ['ssWeight', 'ccWeight', 'scWeight', 'strict', 'negativeWeight', 'ccScale'] as const) {
    if (!(s[key] >= 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `bce3s: ${key} must be >= 0, got ${s[key]}`);
  }
}
