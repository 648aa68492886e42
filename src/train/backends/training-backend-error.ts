// Errors from choosing a training backend. `code` is stable, for callers and tests to branch on.
import { defineErrorCodes, type ErrorCodeSpec } from '../../error-registry.js';

export type TrainingBackendErrorCode =
  /** The name given is not one of TRAINING_BACKEND_NAMES. */
  | 'UNSUPPORTED_BACKEND'
  /** The backend named with --backend cannot load here. */
  | 'BACKEND_UNAVAILABLE'
  /** No backend could load at all (every reason is in the message). */
  | 'NO_BACKEND_AVAILABLE';

export class TrainingBackendError extends Error {
  override readonly name = 'TrainingBackendError';
  constructor(
    readonly code: TrainingBackendErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Registered with their classes (the CLI's exit statuses): see src/error-registry.ts.
defineErrorCodes('training-backends', {
  UNSUPPORTED_BACKEND: { class: 'usage', description: '--backend names no known training backend' },
  BACKEND_UNAVAILABLE: { class: 'unavailable', description: 'the training backend named with --backend cannot load here' },
  NO_BACKEND_AVAILABLE: { class: 'unavailable', description: 'no training backend could load at all' },
} satisfies Record<TrainingBackendErrorCode, ErrorCodeSpec>);
