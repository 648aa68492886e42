// Typed errors of the gallery layer. Codes that the HTTP API answers are the registry's
// (src/server/error-codes.ts maps them by code); the others are for the CLI and start-up.
import { ProtoserveError } from '../errors.js';

export type GalleryErrorCode =
  | 'GALLERY_NOT_FOUND'
  | 'GALLERY_EXISTS'
  | 'IDENTITY_NOT_FOUND'
  | 'IDENTITY_EXISTS'
  | 'IDENTITY_EMPTY'
  | 'FACE_NOT_FOUND'
  | 'MODEL_MISMATCH'
  | 'INVALID_PARAMETER'
  /** faiss-node's addon is not built or does not load. */
  | 'FAISS_UNAVAILABLE'
  /** The gallery cannot serve: its storage failed, or its model is not served. */
  | 'GALLERY_UNAVAILABLE'
  /** Files on disk that are not a gallery, or a gallery this version cannot read. */
  | 'GALLERY_CORRUPT'
  /** Another process holds the galleries folder. */
  | 'GALLERIES_LOCKED'
  /** A seed or export file that does not follow its format. */
  | 'GALLERY_FILE_INVALID';

export class GalleryError extends ProtoserveError {
  declare readonly code: GalleryErrorCode;

  constructor(code: GalleryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
