// Typed errors of the inference layer: devices, sessions, preprocessing, task helpers.
import { ProtoserveError } from '../errors.js';

export type InferErrorCode =
  /** --device names no known device. */
  | 'UNSUPPORTED_DEVICE'
  /** The device was named explicitly but its execution provider cannot load here. */
  | 'DEVICE_UNAVAILABLE'
  /** No execution provider could create a session for this model (the CPU one included). */
  | 'MODEL_LOAD_FAILED'
  /** The bytes are not an image sharp can decode. */
  | 'IMAGE_UNREADABLE'
  /** The image is larger (in pixels) than the decoder accepts. */
  | 'IMAGE_TOO_LARGE'
  /** A tensor or pixel buffer has the wrong size or shape for the model. */
  | 'INPUT_INVALID'
  /** A classifier helper was called on an embedder or the reverse. */
  | 'WRONG_TASK'
  /** onnxruntime failed while running, or the model produced output of the wrong size. */
  | 'INFERENCE_FAILED'
  /** No face could be taken from an image (not an aligned crop, no landmarks, no detector). */
  | 'NO_FACE_FOUND'
  /** Client-given face landmarks that cannot be aligned (count, range, shape). */
  | 'BAD_LANDMARKS';

export class InferError extends ProtoserveError {
  declare readonly code: InferErrorCode;

  constructor(code: InferErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
