// Typed errors of the inference layer: devices, sessions, preprocessing, task helpers.
import { defineErrorCodes, type ErrorCodeSpec } from '../error-registry.js';
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
  /** Face alignment was asked for an output size the reference templates do not cover. */
  | 'ALIGNMENT_SIZE_UNSUPPORTED'
  /** An image of a gallery request has no face: not an aligned crop, and no landmarks. */
  | 'NO_FACE_FOUND'
  /** Client-given face landmarks that cannot be aligned (count, range, layout). */
  | 'BAD_LANDMARKS';

export class InferError extends ProtoserveError {
  declare readonly code: InferErrorCode;

  constructor(code: InferErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

// Registered with their classes (the CLI's exit statuses): see src/error-registry.ts.
defineErrorCodes('infer', {
  UNSUPPORTED_DEVICE: { class: 'usage', description: '--device names no known device' },
  DEVICE_UNAVAILABLE: { class: 'unavailable', description: "the device was named explicitly but its execution provider cannot load here" },
  MODEL_LOAD_FAILED: { class: 'invalid-input', description: 'no execution provider could create a session for the model (the CPU one included)' },
  IMAGE_UNREADABLE: { class: 'invalid-input', description: 'the bytes are not an image the decoder reads' },
  IMAGE_TOO_LARGE: { class: 'invalid-input', description: 'the image has more pixels than the decoder accepts' },
  INPUT_INVALID: { class: 'invalid-input', description: 'a tensor or pixel buffer has the wrong size or shape for the model' },
  WRONG_TASK: { class: 'usage', description: 'a classifier was asked to embed, or an embedder to classify' },
  INFERENCE_FAILED: { class: 'internal', description: 'onnxruntime failed while running, or the model produced output of the wrong size' },
  ALIGNMENT_SIZE_UNSUPPORTED: { class: 'invalid-input', description: "face alignment was asked for an output size InsightFace's templates do not cover" },
  NO_FACE_FOUND: { class: 'invalid-input', description: 'an image has no face to use: it is not an aligned face crop, and neither landmarks nor a detector give one' },
  BAD_LANDMARKS: { class: 'invalid-input', description: 'face landmarks that cannot be aligned: not five finite points, outside the image, or not in the layout of a face' },
} satisfies Record<InferErrorCode, ErrorCodeSpec>);
