// The configuration of one training run, stored in the run folder and in every checkpoint.
// A run is a sequence of stages (most objectives have one; BCE3S has two), each with its own
// epochs, optimizer and learning-rate schedule.
import { DATASET_NAMES } from './data/datasets.js';
import type { OptimizerConfig } from './optimizer.js';
import { SCHEDULE_NAMES, type ScheduleName } from './schedule.js';
import { TrainError } from './train-error.js';

export interface StageConfig extends OptimizerConfig {
  /** The objective's stage this configures (src/train/objectives: StageSpec.name). */
  name: string;
  epochs: number;
  schedule: ScheduleName;
  /** Linear warmup over the first N epochs of the stage (0: none). */
  warmupEpochs: number;
}

/** A face training set on disk (src/train/data/open-face-set.ts), streamed. */
export interface FaceDataConfig {
  /** Identity folders (root/<identity>/*.jpg) or InsightFace's train.rec + train.idx. */
  dir: string;
  format: 'folders' | 'recordio';
  /** Images are resized to this (InsightFace's sets are aligned 112x112). */
  height: number;
  width: number;
  /** Mirror each training image left-right with probability 1/2 (default on). */
  flip: boolean;
  identities: number;
  images: number;
}

/** Verification pairs held out from training, scored after every epoch (embedders). */
export interface ValidationConfig {
  /** An LFW-layout folder (pairs.txt + name/name_0001.jpg) or an InsightFace .bin (lfw.bin, cfp_fp.bin). */
  path: string;
  /** TAR is reported at this false accept rate. */
  far: number;
}

export interface RunConfig {
  /** A packaged dataset (DATASET_NAMES), or 'faces' with `faceData`. */
  dataset: string;
  /** Backbone name from the registry (src/train/nets), e.g. 'resnet8'. */
  net: string;
  /** Base width of the backbone, where it has one. */
  width?: number;
  /** Embedding size of the backbone (mobilefacenet, iresnet*; an embedding layer on resnet*). */
  embeddingDim?: number;
  /** Embedders trained on a face set. */
  faceData?: FaceDataConfig;
  /** The backbone's initial weights came from this run folder or checkpoint (fine-tuning). */
  initFrom?: string;
  validation?: ValidationConfig;
  /** Objective name from src/train/objectives/registry.ts. */
  objective: string;
  /** The objective's own hyperparameters (e.g. BCE3S's r), recorded in provenance. */
  objectiveOptions: Record<string, number | string | boolean>;
  stages: StageConfig[];
  batchSize: number;
  seed: number;
  /** Use only the first N training / test examples (quick runs, tests). */
  trainLimit?: number;
  testLimit?: number;
  /** Stop after this many optimizer steps in this invocation (tests, smoke runs). */
  maxSteps?: number;
  /** Write a checkpoint every N steps (0: only at the end of each epoch). */
  checkpointEvery: number;
}

export const DEFAULT_STAGE: StageConfig = {
  name: 'train',
  epochs: 2,
  optimizer: 'adam',
  learningRate: 1e-3,
  momentum: 0.9,
  weightDecay: 0,
  clipGradNorm: 0,
  schedule: 'constant',
  warmupEpochs: 0,
};

export const DEFAULT_RUN_CONFIG: RunConfig = {
  dataset: 'mnist',
  net: 'resnet8',
  width: 16,
  objective: 'softmax-ce',
  objectiveOptions: {},
  stages: [DEFAULT_STAGE],
  batchSize: 64,
  seed: 1,
  checkpointEvery: 200,
};

/** Checks a configuration once, at start, with messages that name the field. */
export function validateRunConfig(c: RunConfig): RunConfig {
  const positiveInt = (v: unknown, field: string) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new TrainError('TRAIN_CONFIG_INVALID', `${field}: expected a positive integer, got ${String(v)}`);
  };
  const nonNegative = (v: unknown, field: string) => {
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new TrainError('TRAIN_CONFIG_INVALID', `${field}: expected a number >= 0, got ${String(v)}`);
  };
  if (c.faceData) {
    positiveInt(c.faceData.height, 'input-size');
    positiveInt(c.faceData.width, 'input-size');
  } else if (!DATASET_NAMES.includes(c.dataset)) {
    throw new TrainError('UNKNOWN_DATASET', `dataset: "${c.dataset}" is not one of ${DATASET_NAMES.join(', ')}`);
  }
  if (c.embeddingDim !== undefined) positiveInt(c.embeddingDim, 'embedding-dim');
  if (c.validation && !(c.validation.far > 0 && c.validation.far < 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `val-far: expected a number in (0, 1), got ${c.validation.far}`);
  positiveInt(c.batchSize, 'batch-size');
  if (c.width !== undefined) positiveInt(c.width, 'width');
  if (c.trainLimit !== undefined) positiveInt(c.trainLimit, 'train-limit');
  if (c.testLimit !== undefined) positiveInt(c.testLimit, 'test-limit');
  if (c.maxSteps !== undefined) positiveInt(c.maxSteps, 'max-steps');
  if (!Number.isInteger(c.checkpointEvery) || c.checkpointEvery < 0) throw new TrainError('TRAIN_CONFIG_INVALID', `checkpoint-every: expected an integer >= 0`);
  if (c.stages.length === 0) throw new TrainError('TRAIN_CONFIG_INVALID', 'stages: a run needs at least one stage');
  for (const s of c.stages) {
    const at = c.stages.length > 1 ? `stage ${s.name}: ` : '';
    positiveInt(s.epochs, `${at}epochs`);
    if (!(s.learningRate > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `${at}lr: expected a positive number, got ${s.learningRate}`);
    if (s.optimizer !== 'adam' && s.optimizer !== 'sgd') throw new TrainError('TRAIN_CONFIG_INVALID', `${at}optimizer: "${s.optimizer}" is not one of adam, sgd`);
    if (!SCHEDULE_NAMES.includes(s.schedule)) throw new TrainError('TRAIN_CONFIG_INVALID', `${at}schedule: "${s.schedule}" is not one of ${SCHEDULE_NAMES.join(', ')}`);
    if (!(s.momentum >= 0 && s.momentum < 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `${at}momentum: expected a number in [0, 1), got ${s.momentum}`);
    nonNegative(s.weightDecay, `${at}weight-decay`);
    nonNegative(s.clipGradNorm, `${at}clip-grad-norm`);
    if (!Number.isInteger(s.warmupEpochs) || s.warmupEpochs < 0 || s.warmupEpochs >= s.epochs) {
      throw new TrainError('TRAIN_CONFIG_INVALID', `${at}warmup-epochs: expected an integer in [0, epochs), got ${s.warmupEpochs}`);
    }
  }
  return c;
}
