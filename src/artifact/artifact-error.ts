// Typed errors for reading, writing and describing model artifacts.
import { ProtoserveError } from '../errors.js';

export type ArtifactErrorCode =
  /** The folder has no manifest.json. */
  | 'MANIFEST_NOT_FOUND'
  /** manifest.json exists but is not JSON (or cannot be read). */
  | 'MANIFEST_UNREADABLE'
  /** manifest.json is JSON but a field is missing or wrong (ManifestError says which). */
  | 'MANIFEST_INVALID'
  /** The model file the manifest names is not there. */
  | 'MODEL_FILE_MISSING'
  /** The model file's sha256 differs from manifest.sha256. */
  | 'MODEL_HASH_MISMATCH'
  /** The ONNX graph does not match the manifest (tensor names, input size, output dimension). */
  | 'MODEL_MANIFEST_MISMATCH'
  /** The ONNX file cannot be parsed or loaded by onnxruntime. */
  | 'MODEL_UNLOADABLE'
  /** The models folder does not exist. */
  | 'MODELS_DIR_NOT_FOUND'
  /** Two artifacts in one models folder declare the same manifest.name. */
  | 'DUPLICATE_MODEL_NAME'
  /** describeExternalModel was given options it cannot use. */
  | 'EXTERNAL_MODEL_INVALID';

export class ArtifactError extends ProtoserveError {
  declare readonly code: ArtifactErrorCode;
  /** The artifact folder concerned, when there is one. */
  readonly dir?: string;

  constructor(code: ArtifactErrorCode, message: string, options: { dir?: string; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
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
