// Typed errors of the scheduler: the queue is full, a request missed its deadline or went
// away, or the model is not in a state to run. The HTTP layer maps each to its registry code;
// `retryAfterS` becomes the Retry-After header, `state` the model's state in the answer.
import { defineErrorCodes, type ErrorCodeSpec } from '../error-registry.js';
import { ProtoserveError } from '../errors.js';

export type SchedulerErrorCode =
  /** The queue (inference or decoding) holds as much as it may; retry later. */
  | 'QUEUE_FULL'
  /** The request's deadline passed before its result was ready. */
  | 'DEADLINE_EXCEEDED'
  /** The client went away; nobody waits for the result. */
  | 'CANCELLED'
  /** The model is loading, failed, unloading or unloaded. */
  | 'MODEL_UNAVAILABLE';

export class SchedulerError extends ProtoserveError {
  declare readonly code: SchedulerErrorCode;
  /** When a retry may succeed, in whole seconds (QUEUE_FULL, MODEL_UNAVAILABLE while loading). */
  readonly retryAfterS?: number;
  /** The model's state (MODEL_UNAVAILABLE). */
  readonly state?: string;

  constructor(code: SchedulerErrorCode, message: string, options: { cause?: unknown; retryAfterS?: number; state?: string } = {}) {
    super(code, message, { cause: options.cause });
    this.retryAfterS = options.retryAfterS;
    this.state = options.state;
  }
}

// Registered with their classes (the CLI's exit statuses): see src/error-registry.ts.
defineErrorCodes('scheduler', {
  QUEUE_FULL: { class: 'unavailable', description: 'the inference or decoding queue holds as much as it may; retry later' },
  DEADLINE_EXCEEDED: { class: 'unavailable', description: "the request's deadline passed before its result was ready" },
  CANCELLED: { class: 'unavailable', description: 'the client went away before its result was ready' },
  MODEL_UNAVAILABLE: { class: 'unavailable', description: 'the model is loading, failed, unloading or unloaded' },
} satisfies Record<SchedulerErrorCode, ErrorCodeSpec>);
