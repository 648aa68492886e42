// Typed errors of ONNX export: lowering, running the exported graph, and the parity check.
import { ProtoserveError } from '../errors.js';
import type { ParityReport } from './parity.js';

export type ExportErrorCode =
  /** The net's graph holds something the lowering cannot express. */
  | 'EXPORT_UNSUPPORTED'
  /** Export options that cannot be honoured (e.g. a name clash). */
  | 'EXPORT_OPTIONS_INVALID'
  /** onnxruntime could not load or run the exported graph. */
  | 'EXPORT_RUNTIME_FAILED'
  /** The exported graph's outputs differ from the trainer's beyond tolerance; `report` says by how much. */
  | 'EXPORT_PARITY_FAILED'
  /** A model to import (TensorFlow.js model.json and its weight shards) cannot be read. */
  | 'IMPORT_SOURCE_INVALID';

export class ExportError extends ProtoserveError {
  declare readonly code: ExportErrorCode;
  /** Set for EXPORT_PARITY_FAILED. */
  readonly report?: ParityReport;

  constructor(code: ExportErrorCode, message: string, options: { report?: ParityReport; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.report = options.report;
  }
}
