// Typed errors of the evaluator: dataset files, feature files, images, protocol violations.
// Each code is registered with its class (and so the CLI's exit status) in the error registry.
import { defineErrorCodes } from '../error-registry.js';
import { ProtoserveError, type ErrorDetails } from '../errors.js';

export const EVAL_ERROR_CODES = defineErrorCodes('eval', {
  EVAL_USAGE: { class: 'usage', description: 'protoserve eval was given a wrong combination of benchmarks and options (details.option names it)' },
  MODEL_NOT_FOUND: { class: 'not-found', description: '--model names no artifact folder and no model of the models folder' },
  DATASET_FILE_MISSING: { class: 'not-found', description: "a benchmark file (pairs.txt, a meta file, a template list) is missing" },
  DATASET_FORMAT: { class: 'invalid-input', description: "a benchmark file does not follow the benchmark's format (details.file, details.line)" },
  DATASET_IMAGE_MISSING: { class: 'not-found', description: 'an image a benchmark lists is not in the data folder (--on-bad-image skip goes on without it)' },
  DATASET_IMAGE_UNREADABLE: { class: 'invalid-input', description: 'an image cannot be decoded, or its landmarks cannot be read (--on-bad-image skip goes on without it)' },
  FEATURE_FILE_MISSING: { class: 'not-found', description: 'a precomputed feature file is not where --features says it is' },
  FEATURE_FILE_INVALID: { class: 'invalid-input', description: 'a feature file (OpenCV matrix layout) is truncated or of an unknown type' },
  FEATURE_DIMENSION: { class: 'invalid-input', description: 'features of one run disagree in dimension' },
  METRIC_UNDEFINED: { class: 'check-failed', description: 'the data cannot give the metric asked for (no impostor pair, a probe without its mate, ...)' },
  MODEL_NOT_EVALUABLE: { class: 'invalid-input', description: 'the model cannot be evaluated (not an embedder, an input size face alignment does not support)' },
  ALIGN_WORKER_FAILED: { class: 'internal', description: 'an image decode/align worker thread stopped; the run fails with its reason instead of waiting' },
});

export type EvalErrorCode = keyof typeof EVAL_ERROR_CODES;

export class EvalError extends ProtoserveError {
  declare readonly code: EvalErrorCode;

  constructor(code: EvalErrorCode, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(code, message, options);
  }
}
