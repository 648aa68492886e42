// Typed errors of the trainer: its command line, run configuration, training data, checkpoints
// and resumed runs. Each code is registered with its class (and so the CLI's exit status).
import { defineErrorCodes, type ErrorCodeSpec } from '../error-registry.js';
import { ProtoserveError, type ErrorDetails } from '../errors.js';

export type TrainErrorCode =
  /** Options that exclude or need each other, or a flag value that does not parse. */
  | 'TRAIN_USAGE'
  /** A run setting out of its range (learning rate, momentum, epochs, an objective's scale...). */
  | 'TRAIN_CONFIG_INVALID'
  /** --objective names no known objective, or gives it options it does not take. */
  | 'UNKNOWN_OBJECTIVE'
  /** --dataset names no known dataset. */
  | 'UNKNOWN_DATASET'
  /** A training set (packaged dataset, image folder, face set) is not where it is said to be. */
  | 'TRAINING_DATA_MISSING'
  /** A training set exists but is not in its format (IDX header, empty class folder, undecodable image). */
  | 'TRAINING_DATA_INVALID'
  /** A checkpoint file is not one, is truncated, or holds an unknown group. */
  | 'CHECKPOINT_INVALID'
  /** The output folder already holds a run and --resume was not given. */
  | 'RUN_EXISTS'
  /** --resume with settings or data that differ from the run's own. */
  | 'RESUME_MISMATCH';

export class TrainError extends ProtoserveError {
  declare readonly code: TrainErrorCode;

  constructor(code: TrainErrorCode, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(code, message, options);
  }
}

defineErrorCodes('train', {
  TRAIN_USAGE: { class: 'usage', description: 'train options that exclude or need each other, or a flag value that does not parse' },
  TRAIN_CONFIG_INVALID: { class: 'usage', description: "a run setting out of its range (learning rate, momentum, epochs, an objective's scale or margin)" },
  UNKNOWN_OBJECTIVE: { class: 'usage', description: '--objective names no known objective, or gives it options it does not take' },
  UNKNOWN_DATASET: { class: 'usage', description: '--dataset names no known dataset' },
  TRAINING_DATA_MISSING: { class: 'not-found', description: 'a training set (packaged dataset, image folder, face set) is not where it is said to be' },
  TRAINING_DATA_INVALID: { class: 'invalid-input', description: 'a training set is not in its format (IDX header, empty class folder, an image that does not decode or has the wrong size)' },
  CHECKPOINT_INVALID: { class: 'invalid-input', description: 'a checkpoint file is not one, is truncated, or holds an unknown tensor group' },
  RUN_EXISTS: { class: 'usage', description: 'the output folder already holds a run: continue it with --resume, or train into another folder' },
  RESUME_MISMATCH: { class: 'usage', description: "--resume with settings or data that differ from the run's own" },
} satisfies Record<TrainErrorCode, ErrorCodeSpec>);
