// Typed errors for reading, writing and describing model artifacts.
import { defineErrorCodes } from '../error-registry.js';
import { ProtoserveError, type ErrorDetails } from '../errors.js';

export const ARTIFACT_ERROR_CODES = defineErrorCodes('artifact', {
  MANIFEST_NOT_FOUND: { class: 'not-found', description: 'the folder has no manifest.json' },
  MANIFEST_UNREADABLE: { class: 'invalid-input', description: 'manifest.json exists but is not JSON (or cannot be read)' },
  MANIFEST_INVALID: { class: 'invalid-input', description: 'manifest.json is JSON but a field is missing or wrong (ManifestError.field names it)' },
  MODEL_FILE_MISSING: { class: 'not-found', description: 'the model file the manifest names is not there' },
  MODEL_HASH_MISMATCH: { class: 'invalid-input', description: "the model file's sha256 differs from manifest.sha256" },
  MODEL_MANIFEST_MISMATCH: { class: 'invalid-input', description: 'the ONNX graph does not match the manifest, or the manifest no longer describes the model evaluated' },
  MODEL_UNLOADABLE: { class: 'invalid-input', description: 'onnxruntime cannot parse or load the ONNX file' },
  MODELS_DIR_NOT_FOUND: { class: 'not-found', description: 'the models folder does not exist' },
  DUPLICATE_MODEL_NAME: { class: 'invalid-input', description: 'two artifacts in one models folder declare the same manifest.name' },
  ARTIFACT_UNREADABLE: { class: 'invalid-input', description: 'an artifact folder could not be read for a reason without a code of its own' },
  EXTERNAL_MODEL_NOT_FOUND: { class: 'not-found', description: 'the ONNX file given to `models import` does not exist' },
  EXTERNAL_MODEL_INVALID: { class: 'invalid-input', description: 'the ONNX graph contradicts what `models import` was told, or lacks what it needs (details.field)' },
  INVALID_ARGUMENT: { class: 'usage', description: 'protoserve models was given a missing, unknown or wrong option (details.option)' },
});

export type ArtifactErrorCode = keyof typeof ARTIFACT_ERROR_CODES;

export class ArtifactError extends ProtoserveError {
  declare readonly code: ArtifactErrorCode;
  /** The artifact folder concerned, when there is one. */
  readonly dir?: string;

  constructor(code: ArtifactErrorCode, message: string, options: { dir?: string; cause?: unknown; details?: ErrorDetails } = {}) {
    super(code, message, { cause: options.cause, details: options.details });
    this.dir = options.dir;
  }
}

export interface ManifestIssue {
  /** Dotted path from the manifest root, e.g. "manifest.input.height". */
  field: string;
  /** The whole line, e.g. 'manifest.input.height: expected a positive integer, got "abc"'. */
  message: string;
}

/** A manifest that does not satisfy the contract; `field` names the first bad field. */
export class ManifestError extends ArtifactError {
  declare readonly code: 'MANIFEST_INVALID';
  readonly field: string;
  readonly issues: ManifestIssue[];

  constructor(issues: ManifestIssue[], options: { dir?: string } = {}) {
    const where = options.dir ? ` (in ${options.dir})` : '';
    const message =
      issues.length === 1
        ? `${issues[0].message}${where}`
        : `${issues.length} problems in manifest${where}: ${issues.map((i) => i.message).join('; ')}`;
    super('MANIFEST_INVALID', message, options);
    this.field = issues[0]?.field ?? 'manifest';
    this.issues = issues;
  }
}
