// Typed errors of the gallery layer. Codes the HTTP API answers are also in its registry
// (src/server/error-codes.ts, which maps them by code); the others concern the CLI and start-up.
import { defineErrorCodes, type ErrorCodeSpec } from '../error-registry.js';
import { ProtoserveError } from '../errors.js';

export const GALLERY_ERROR_CODES = defineErrorCodes('gallery', {
  GALLERY_NOT_FOUND: { class: 'not-found', description: 'no gallery of that name' },
  GALLERY_EXISTS: { class: 'invalid-input', description: 'a gallery of that name exists already' },
  IDENTITY_NOT_FOUND: { class: 'not-found', description: 'no identity of that id in the gallery' },
  IDENTITY_EXISTS: { class: 'invalid-input', description: 'an identity of that id exists already in the gallery' },
  IDENTITY_EMPTY: { class: 'invalid-input', description: 'the identity has no enrolled faces (nothing to verify against)' },
  FACE_NOT_FOUND: { class: 'not-found', description: 'no face of that id in the identity' },
  MODEL_MISMATCH: { class: 'invalid-input', description: "embeddings of another model (or other weights) than the gallery's: not comparable" },
  INVALID_PARAMETER: { class: 'usage', description: 'a gallery name, identity id, metadata, index kind or option is not what it must be' },
  FAISS_UNAVAILABLE: { class: 'unavailable', description: "faiss-node's addon is not built or does not load (npm ci builds it)" },
  GALLERY_UNAVAILABLE: { class: 'unavailable', description: "the gallery cannot serve: its storage failed, or its model is not served" },
  GALLERY_CORRUPT: { class: 'invalid-input', description: 'files in the galleries folder that are not a gallery this version reads' },
  GALLERIES_LOCKED: { class: 'unavailable', description: 'another process (a server or the CLI) holds the galleries folder' },
  GALLERY_FILE_INVALID: { class: 'invalid-input', description: 'a gallery export or seed file that does not follow its format' },
} satisfies Record<string, ErrorCodeSpec>);

export type GalleryErrorCode = keyof typeof GALLERY_ERROR_CODES;

export class GalleryError extends ProtoserveError {
  declare readonly code: GalleryErrorCode;

  constructor(code: GalleryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
