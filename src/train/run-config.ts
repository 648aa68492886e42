// The configuration of one training run, stored in the run folder and in every checkpoint.
// A run is a sequence of stages (most objectives have one; BCE3S has two), each with its own
// epochs, optimizer and learning-rate schedule.
import type { ClassOrder, LongTailProfile } from './data/long-tail.js';
import type { CropFlipOptions } from './data/random-crop-flip.js';
import { TRAIN_DATASET_NAMES } from './data/run-dataset.js';
import type { GroupThresholds } from './metrics/long-tail.js';
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
  /** Images per optimizer step (the effective batch, however it is computed). */
  batchSize: number;
  /** Micro-batches per optimizer step, run one after another (gradient accumulation); default 1. */
  accumulate?: number;
  /** Data-parallel replicas, one per worker thread (src/train/parallel); default 1 (none). */
  workers?: number;
  seed: number;
  /** Use only the first N training / test examples (quick runs, tests). */
  trainLimit?: number;
  testLimit?: number;
  /** Stop after this many optimizer steps in this invocation (tests, smoke runs). */
  maxSteps?: number;
  /** Write a checkpoint every N steps (0: only at the end of each epoch). */
  checkpointEvery: number;

  // Long-tailed classification (issue 7). Optional: runs stored before these fields existed read
  // as "not set" (no long tail, no augmentation, single-view evaluation, uniform partners).
  /** Folder of the data set's files (cifar10, cifar100: the extracted archive; folder: root/<class>/*). */
  data?: string;
  /** Image folders: the size images are decoded to (square) and their channels. */
  imageSize?: number;
  channels?: 1 | 3;
  /** Train on a long-tailed subset of the training split (src/train/data/long-tail.ts). */
  longTail?: { imbalance: number; profile: LongTailProfile; order: ClassOrder; maxPerClass?: number };
  /** Training augmentation: random crop after zero padding, horizontal flip. */
  augment?: CropFlipOptions;
  /** Evaluate on logits averaged over each test image and its horizontal flip. */
  evalFlip?: boolean;
  /** Evaluate every N epochs (and always after a stage's last epoch); default 1. */
  evalEvery?: number;
  /** Many / Few class thresholds of the evaluation (default Many > 100, Few < 20 training images). */
  groupThresholds?: GroupThresholds;
  /** Partner batches (mixup / cutmix) weight each image 1 / n_c^q (0: uniform over images, 1: class-balanced). */
  partnerPower?: number;
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
  } else if (!TRAIN_DATASET_NAMES.includes(c.dataset)) {
    throw new TrainError('UNKNOWN_DATASET', `dataset: "${c.dataset}" is not one of ${TRAIN_DATASET_NAMES.join(', ')}`);
  }
  if (c.embeddingDim !== undefined) positiveInt(c.embeddingDim, 'embedding-dim');
  if (c.validation && !(c.validation.far > 0 && c.validation.far < 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `val-far: expected a number in (0, 1), got ${c.validation.far}`);
  positiveInt(c.batchSize, 'batch-size');
  if (c.accumulate !== undefined) positiveInt(c.accumulate, 'accumulate');
  if (c.workers !== undefined) positiveInt(c.workers, 'workers');
  if ((c.accumulate ?? 1) > c.batchSize) throw new TrainError('TRAIN_CONFIG_INVALID', `accumulate: ${c.accumulate} micro-batches cannot split a batch of ${c.batchSize}`);
  if ((c.workers ?? 1) > c.batchSize) throw new TrainError('TRAIN_CONFIG_INVALID', `workers: ${c.workers} workers cannot split a batch of ${c.batchSize}`);
  if ((c.workers ?? 1) * (c.accumulate ?? 1) > c.batchSize) {
    throw new TrainError('TRAIN_CONFIG_INVALID', `workers and accumulate: ${c.workers} workers of ${c.accumulate} micro-batches each cannot split a batch of ${c.batchSize}`);
  }
  if (c.width !== undefined) positiveInt(c.width, 'width');
  if (c.trainLimit !== undefined) positiveInt(c.trainLimit, 'train-limit');
  if (c.testLimit !== undefined) positiveInt(c.testLimit, 'test-limit');
  if (c.maxSteps !== undefined) positiveInt(c.maxSteps, 'max-steps');
  if (!Number.isInteger(c.checkpointEvery) || c.checkpointEvery < 0) throw new TrainError('TRAIN_CONFIG_INVALID', `checkpoint-every: expected an integer >= 0`);
  validateLongTailSettings(c);
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

/** The data, augmentation and evaluation settings of long-tailed runs. */
function validateLongTailSettings(c: RunConfig): void {
  const needsFolder = ['cifar10', 'cifar100', 'folder'].includes(c.dataset);
  if (needsFolder && !c.data) throw new TrainError('TRAIN_USAGE', `data: ${c.dataset} needs --data DIR (the folder holding its files)`);
  if (!needsFolder && c.data !== undefined) throw new TrainError('TRAIN_USAGE', `data: ${c.dataset} is read from its package; --data applies to cifar10, cifar100 and folder`);
  if (c.dataset === 'folder') {
    if (!(Number.isInteger(c.imageSize) && c.imageSize! > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `image-size: folder datasets need --image-size N (a positive integer), got ${String(c.imageSize)}`);
    if (c.channels !== 1 && c.channels !== 3) throw new TrainError('TRAIN_CONFIG_INVALID', `channels: expected 1 or 3, got ${String(c.channels)}`);
  } else if (c.imageSize !== undefined || c.channels !== undefined) {
    throw new TrainError('TRAIN_USAGE', `image-size, channels: apply to --dataset folder only (${c.dataset} has a fixed size)`);
  }
  if (c.longTail) {
    const { imbalance, profile, order } = c.longTail;
    if (!(Number.isFinite(imbalance) && imbalance >= 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `imbalance: expected a number >= 1 (n_max / n_min), got ${imbalance}`);
    if (profile !== 'exp' && profile !== 'step') throw new TrainError('TRAIN_CONFIG_INVALID', `profile: "${profile}" is not one of exp, step`);
    if (order !== 'index' && order !== 'reversed') throw new TrainError('TRAIN_CONFIG_INVALID', `class-order: "${order}" is not one of index, reversed`);
    const n = c.longTail.maxPerClass;
    if (n !== undefined && !(Number.isInteger(n) && n > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `max-per-class: expected a positive integer, got ${n}`);
  }
  if (c.augment) {
    if (!(Number.isInteger(c.augment.padding) && c.augment.padding >= 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `crop-padding: expected an integer >= 0, got ${c.augment.padding}`);
  }
  if (c.evalEvery !== undefined && !(Number.isInteger(c.evalEvery) && c.evalEvery > 0)) throw new TrainError('TRAIN_CONFIG_INVALID', `eval-every: expected a positive integer, got ${c.evalEvery}`);
  if (c.groupThresholds) {
    const { many, few } = c.groupThresholds;
    if (!(Number.isFinite(many) && Number.isFinite(few) && few >= 0 && few <= many + 1)) {
      throw new TrainError('TRAIN_CONFIG_INVALID', `group-thresholds: expected MANY,FEW with 0 <= FEW <= MANY + 1 (Many > MANY, Few < FEW), got ${many},${few}`);
    }
  }
  if (c.partnerPower !== undefined && !(c.partnerPower >= 0 && c.partnerPower <= 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `partner-power: expected a number in [0, 1], got ${c.partnerPower}`);
}
