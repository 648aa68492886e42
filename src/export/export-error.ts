// Typed errors of ONNX export: lowering, running the exported graph, and the parity check.
import { defineErrorCodes, type ErrorCodeSpec } from '../error-registry.js';
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
  | 'IMPORT_SOURCE_INVALID'
  /** --run names no run folder with a checkpoint. */
  | 'EXPORT_RUN_NOT_FOUND'
  /** The run folder lacks a file export needs (identities.json of a face run). */
  | 'EXPORT_RUN_INCOMPLETE';

export class ExportError extends ProtoserveError {
  declare readonly code: ExportErrorCode;
  /** Set for EXPORT_PARITY_FAILED. */
  readonly report?: ParityReport;

  constructor(code: ExportErrorCode, message: string, options: { report?: ParityReport; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.report = options.report;
  }
}

// Registered with their classes (the CLI's exit statuses): see src/error-registry.ts.
defineErrorCodes('export', {
  EXPORT_UNSUPPORTED: { class: 'invalid-input', description: "the net's graph holds something the ONNX lowering cannot express" },
  EXPORT_OPTIONS_INVALID: { class: 'usage', description: 'export options that cannot be honoured (e.g. a name clash)' },
  EXPORT_RUNTIME_FAILED: { class: 'internal', description: 'onnxruntime could not load or run the exported graph' },
  EXPORT_PARITY_FAILED: { class: 'check-failed', description: "the exported graph's outputs differ from the trainer's beyond tolerance" },
  IMPORT_SOURCE_INVALID: { class: 'invalid-input', description: 'a model to import (TensorFlow.js model.json and its weight shards) cannot be read' },
  EXPORT_RUN_NOT_FOUND: { class: 'not-found', description: '--run names no run folder with a checkpoint (train first)' },
  EXPORT_RUN_INCOMPLETE: { class: 'invalid-input', description: 'the run folder lacks a file export needs (identities.json of a face run)' },
} satisfies Record<ExportErrorCode, ErrorCodeSpec>);
