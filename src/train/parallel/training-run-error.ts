// Typed errors of how a training step is run: a batch that cannot fit the backend's memory, a
// data-parallel worker that stopped. Registered with their classes (the CLI's exit statuses).
import { defineErrorCodes } from '../../error-registry.js';
import { ProtoserveError, type ErrorDetails } from '../../errors.js';

export const TRAINING_RUN_ERROR_CODES = defineErrorCodes('training-run', {
  BATCH_EXCEEDS_MEMORY: {
    class: 'unavailable',
    description: "a training step of this batch would not fit the backend's memory (the wasm heap stops at 4 GiB); the message gives the estimate, the largest batch that fits and the --accumulate that makes the batch fit",
  },
  TRAINING_WORKER_FAILED: { class: 'internal', description: 'a data-parallel training worker (--workers) stopped or threw; the run fails with its reason instead of waiting' },
});

export type TrainingRunErrorCode = keyof typeof TRAINING_RUN_ERROR_CODES;

export class TrainingRunError extends ProtoserveError {
  declare readonly code: TrainingRunErrorCode;

  constructor(code: TrainingRunErrorCode, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(code, message, options);
  }
}
