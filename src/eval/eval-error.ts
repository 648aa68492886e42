// Typed errors of the evaluator: dataset files, feature files, protocol violations.
import { ProtoserveError } from '../errors.js';

export type EvalErrorCode =
  /** A benchmark file (pairs.txt, a meta file, a template list) is missing. */
  | 'DATASET_FILE_MISSING'
  /** A benchmark file is there but does not follow the benchmark's format. */
  | 'DATASET_FORMAT'
  /** A feature file (OpenCV matrix layout) is missing, truncated or of an unknown type. */
  | 'FEATURE_FILE_INVALID'
  /** Features of one run disagree in dimension. */
  | 'FEATURE_DIMENSION'
  /** The data cannot give the metric asked for (no impostor pair, a probe without its mate, ...). */
  | 'METRIC_UNDEFINED'
  /** Command-line usage error. */
  | 'EVAL_USAGE'
  /** The model cannot be evaluated (not an embedder, wrong input). */
  | 'MODEL_NOT_EVALUABLE';

export class EvalError extends ProtoserveError {
  declare readonly code: EvalErrorCode;

  constructor(code: EvalErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
