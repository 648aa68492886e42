// The configuration of one training run, stored in the run folder and in every checkpoint.
import { DATASET_NAMES } from './data/datasets.js';

export interface RunConfig {
  dataset: string;
  /** Backbone name from the registry (src/train/nets), e.g. 'resnet8'. */
  net: string;
  /** Base width of the backbone, where it has one. */
  width?: number;
  objective: 'softmax-ce';
  epochs: number;
  batchSize: number;
  optimizer: 'adam' | 'sgd';
  learningRate: number;
  /** SGD momentum (ignored by adam). */
  momentum: number;
  seed: number;
  /** Use only the first N training / test examples (quick runs, tests). */
  trainLimit?: number;
  testLimit?: number;
  /** Stop after this many optimizer steps in this invocation (tests, smoke runs). */
  maxSteps?: number;
  /** Write a checkpoint every N steps (0: only at the end of each epoch). */
  checkpointEvery: number;
}

export const DEFAULT_RUN_CONFIG: RunConfig = {
  dataset: 'mnist',
  net: 'resnet8',
  width: 16,
  objective: 'softmax-ce',
  epochs: 2,
  batchSize: 64,
  optimizer: 'adam',
  learningRate: 1e-3,
  momentum: 0.9,
  seed: 1,
  checkpointEvery: 200,
};

/** Checks a configuration once, at start, with messages that name the field. */
export function validateRunConfig(c: RunConfig): RunConfig {
  const positiveInt = (v: unknown, field: string) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${field}: expected a positive integer, got ${String(v)}`);
  };
  if (!DATASET_NAMES.includes(c.dataset)) throw new Error(`dataset: "${c.dataset}" is not one of ${DATASET_NAMES.join(', ')}`);
  positiveInt(c.epochs, 'epochs');
  positiveInt(c.batchSize, 'batch-size');
  if (c.width !== undefined) positiveInt(c.width, 'width');
  if (c.trainLimit !== undefined) positiveInt(c.trainLimit, 'train-limit');
  if (c.testLimit !== undefined) positiveInt(c.testLimit, 'test-limit');
  if (c.maxSteps !== undefined) positiveInt(c.maxSteps, 'max-steps');
  if (!(c.learningRate > 0)) throw new Error(`lr: expected a positive number, got ${c.learningRate}`);
  if (c.optimizer !== 'adam' && c.optimizer !== 'sgd') throw new Error(`optimizer: "${c.optimizer}" is not one of adam, sgd`);
  if (!Number.isInteger(c.checkpointEvery) || c.checkpointEvery < 0) throw new Error(`checkpoint-every: expected an integer >= 0`);
  return c;
}
