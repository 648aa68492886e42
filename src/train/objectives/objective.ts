// The contract between the training loop and a training objective.
//
// A run trains a backbone (src/train/nets: images -> features) together with an objective. The
// objective owns everything after the features: the parameters of its heads (classifier rows,
// BCE3S's projector, EPL's learned prototypes), its non-trainable buffers (BCE3S's class memory,
// EPL's empirical prototypes), how a step's inputs are built from the batch (BCE3S's mixup and
// cutmix views), its loss, and the one head the exported model keeps (`inferenceHead`). Nothing
// else of the objective reaches the ONNX graph.
//
// A run is a sequence of stages (`stages`; BCE3S: joint learning, then classifier re-balancing
// with the backbone frozen). The loop gives every call the stage and the 1-based epoch within it.
//
// Data parallelism: `prepare` runs once per step on the whole batch (everything that depends on
// the whole batch, such as the classes kept by partial negatives or the mixing coefficient, is
// decided there); `loss` may then run on a shard of the prepared step. Values a loss needs from
// the whole batch (EPL's prototype update) go through `ctx.gather`, which returns the rows of
// every shard in batch order (in a single process, the tensor itself). Shards are the workers'
// (--workers: exchanged through shared memory, src/train/parallel/replica-worker.ts) or the
// micro-batches of gradient accumulation (--accumulate: collected by a forward pass without
// gradients first, src/train/parallel/accumulated-gradients.ts). Buffer updates computed from
// anything else see only the shard.
import type * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/batches.js';
import type { NamedWeights } from '../nets/net.js';

export type Task = 'classifier' | 'embedder';

export interface StageSpec {
  /** Stable name, recorded in checkpoints and reports (e.g. 'train', 'joint', 'rebalance'). */
  name: string;
  /** Whether the backbone's parameters train in this stage (false: frozen; batch norm stays in training mode). */
  trainBackbone: boolean;
}

/** Where a step is in the run. */
export interface StepPosition {
  stage: string;
  /** 1-based epoch within the stage. */
  epoch: number;
}

export interface PrepareContext extends StepPosition {
  /** Uniform [0, 1) numbers for this step alone, reproducible from the run's seed and the step. */
  random: () => number;
  /** A second batch from the run's partner sampler, augmented like the first (mixup / cutmix partners). */
  drawBatch(size: number): Promise<Batch>;
}

/**
 * A step's inputs as the objective built them from the batch. `inputs` holds `views` views of the
 * `size` images, view after view ([views * size, height, width, channels], normalized NHWC): the
 * backbone runs once over all of them, so batch norm sees the statistics of every view, as in
 * the BCE3S reference. Per-sample values travel in `rows` (sharded with the samples), batch-wide
 * values in `shared`.
 */
export interface PreparedStep {
  inputs: Float32Array;
  views: number;
  size: number;
  labels: Int32Array;
  /** Per-sample values, row-major [size, width] (e.g. soft targets). */
  rows: Record<string, { width: number; values: Float32Array }>;
  /** Values for the whole batch (a mixing coefficient, the classes kept). */
  shared: Record<string, number | readonly number[]>;
}

/** The prepared step as tensors, for `loss`. */
export interface StepTensors {
  /** The backbone's features, one [size, d] tensor per view, in the order of `inputs`. */
  features: tf.Tensor2D[];
  labels: tf.Tensor1D;
  /** The labels as numbers, for index work that needs no tensor. */
  labelValues: Int32Array;
  rows: Record<string, tf.Tensor2D>;
  shared: PreparedStep['shared'];
}

export interface LossContext extends StepPosition {
  /**
   * The rows of `t` ([shard size, ...]: one row per sample of this shard) from every shard of the
   * batch, in batch order (the identity in one process); this shard's rows are `t` itself.
   */
  gather(t: tf.Tensor): tf.Tensor;
}

export interface StepLoss {
  /** The scalar that is differentiated. */
  loss: tf.Scalar;
  /** Named parts of the loss, for progress lines and reports (e.g. { sc, ss, cc }). */
  terms: Record<string, tf.Scalar>;
  /** Buffer values to store after the optimizer's update (class memory, empirical prototypes). */
  updates: Array<{ variable: tf.Variable; value: tf.Tensor }>;
}

/**
 * The head the exported model keeps: classifier logits z = x W + b ([d, classes] as a dense
 * layer stores it, with any normalization of the rows already applied), or the L2-normalized
 * feature of an embedder.
 */
export type InferenceHead =
  | { kind: 'linear'; weight: Float32Array; bias: Float32Array; classes: number }
  | { kind: 'l2normalize' };

/**
 * Embedders: one prototype per training identity in the embedding space (EPL's empirical
 * prototypes, or the normalized rows of a margin head's learned prototypes), row-major
 * [classes, dimension], for seeding a gallery with the training identities.
 */
export interface IdentityPrototypes {
  kind: 'empirical' | 'learned';
  values: Float32Array;
  classes: number;
  dimension: number;
}

export interface Objective {
  /** Stable name recorded in provenance, e.g. 'softmax-ce', 'bce3s'. */
  readonly name: string;
  readonly task: Task;
  /** Hyperparameters recorded in provenance. */
  readonly hyperparameters: Record<string, number | string | boolean>;
  readonly stages: readonly StageSpec[];
  /** The objective's own trainable parameters in `stage`; the loop adds the backbone's where the stage trains it. */
  trainableVariables(stage: string): tf.Variable[];
  /** Parameters and buffers by stable name (copies), for checkpoints. */
  getWeights(): NamedWeights;
  /** The inverse of getWeights(); every name must be present. */
  setWeights(weights: NamedWeights): void;
  /**
   * Builds the step's inputs from the (augmented, normalized) batch; runs once per step on the
   * whole batch, in the loop's thread, so it must not read the objective's parameters or buffers
   * (with --workers they are updated in the replicas and reach this thread only between epochs).
   */
  prepare(batch: Batch, ctx: PrepareContext): PreparedStep | Promise<PreparedStep>;
  /** The loss of a prepared step (or a shard of it), inside tf.variableGrads. */
  loss(step: StepTensors, ctx: LossContext): StepLoss;
  /** When a stage begins (not when a run resumes inside it). */
  beginStage?(stage: string): void;
  /** After the last step of each epoch (e.g. BCE3S's MaxNorm projection). */
  endEpoch?(position: StepPosition): void;
  inferenceHead(): InferenceHead;
  /** Embedders with class prototypes: their current values (copies). */
  prototypes?(): IdentityPrototypes;
  dispose(): void;
}

/** The batch as the single view most objectives train on. */
export function singleView(batch: Batch): PreparedStep {
  return { inputs: batch.pixels, views: 1, size: batch.size, labels: batch.labels, rows: {}, shared: {} };
}
