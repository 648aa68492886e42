// Every error the HTTP API answers, in one registry (the shape of fastify's lib/errors.js):
// a stable code, its HTTP status, and its message format. Routes throw these; the error
// handler turns anything else into one of them. Clients match on `error.code`, never on text.
import { format } from 'node:util';

import { InvariantError, ProtoserveError } from '../errors.js';

export interface ErrorDefinition {
  code: string;
  statusCode: number;
  /** util.format message, %s per argument. */
  message: string;
}

/** An error the server answers as `{error: {code, message}}` with `statusCode`. */
export class HttpError extends ProtoserveError {
  readonly statusCode: number;
  /** Sent as the Retry-After header (503s). */
  retryAfterS?: number;
  /** Extra machine-readable fields of the answer's `error` object (e.g. a model's `state`). */
  fields?: Record<string, unknown>;

  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.statusCode = statusCode;
  }

  /** Adds a Retry-After and/or details; returns this. */
  with(extra: { retryAfterS?: number; details?: Record<string, unknown> }): this {
    if (extra.retryAfterS !== undefined) this.retryAfterS = extra.retryAfterS;
    if (extra.details) this.fields = { ...this.fields, ...extra.details };
    return this;
  }

  toJSON(): { error: { code: string; message: string } & Record<string, unknown> } {
    return { error: { ...this.fields, code: this.code, message: this.message } };
  }

  /** The Open Inference Protocol's error object: the message as `error`, our code and details beside it. */
  toKserveJSON(): { error: string; code: string } & Record<string, unknown> {
    return { ...this.fields, error: this.message, code: this.code };
  }
}

export type HttpErrorClass = (new (...args: unknown[]) => HttpError) & ErrorDefinition;

const registry = new Map<string, ErrorDefinition>();

function createError(code: string, message: string, statusCode: number): HttpErrorClass {
  if (registry.has(code)) throw new InvariantError(`error code ${code} registered twice`);
  registry.set(code, { code, statusCode, message });
  const cls = class extends HttpError {
    static readonly code = code;
    static readonly statusCode = statusCode;
    static readonly message = message;
    constructor(...args: unknown[]) {
      super(code, statusCode, format(message, ...args));
    }
  };
  Object.defineProperty(cls, 'name', { value: code });
  return cls as unknown as HttpErrorClass;
}

// 400
export const IMAGE_REQUIRED = createError('IMAGE_REQUIRED', 'No image in the request: %s', 400);
export const MULTIPART_MALFORMED = createError('MULTIPART_MALFORMED', 'Malformed multipart/form-data body: %s', 400);
export const INVALID_PARAMETER = createError('INVALID_PARAMETER', 'Invalid parameter %s: %s', 400);
export const WRONG_TASK = createError('WRONG_TASK', 'Model "%s" is %s; %s', 400);
export const BAD_REQUEST = createError('BAD_REQUEST', 'Bad request: %s', 400);
// 403
export const ADMIN_FORBIDDEN = createError('ADMIN_FORBIDDEN', '%s', 403);
// 401, 403: API keys (src/server/auth/access-control.ts)
export const API_KEY_REQUIRED = createError('API_KEY_REQUIRED', 'This server requires an API key: %s', 401);
export const API_KEY_INVALID = createError('API_KEY_INVALID', 'The API key is not valid: %s', 401);
export const INSUFFICIENT_SCOPE = createError('INSUFFICIENT_SCOPE', 'API key %s has scopes %s; %s needs the scope "%s" (or admin)', 403);
// 404, 405
export const MODEL_NOT_FOUND = createError('MODEL_NOT_FOUND', 'Model "%s" not found; available models: %s', 404);
export const ROUTE_NOT_FOUND = createError('ROUTE_NOT_FOUND', 'No route %s %s; see GET /v1/models', 404);
export const METHOD_NOT_ALLOWED = createError('METHOD_NOT_ALLOWED', 'Method %s is not allowed on %s; allowed: %s', 405);
// 413, 415
export const PAYLOAD_TOO_LARGE = createError('PAYLOAD_TOO_LARGE', 'The request body is larger than the limit of %s bytes', 413);
export const IMAGE_TOO_LARGE = createError('IMAGE_TOO_LARGE', '%s', 413);
export const UNSUPPORTED_MEDIA_TYPE = createError(
  'UNSUPPORTED_MEDIA_TYPE',
  'Content-Type %s is not accepted; send %s',
  415,
);
export const IMAGE_UNREADABLE = createError('IMAGE_UNREADABLE', '%s', 415);
// 408, 431: the HTTP layer refused the request before a route saw it (src/server/client-errors.ts)
export const REQUEST_TIMEOUT = createError('REQUEST_TIMEOUT', 'The request was not received in time: %s', 408);
export const HEADERS_TOO_LARGE = createError('HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts (%s bytes in all)', 431);
// 400, 422: faces in whole photos
export const DETECTOR_UNAVAILABLE = createError('DETECTOR_UNAVAILABLE', 'Model "%s" takes whole photos through a face detector, but %s; send an aligned face crop with ?input=aligned', 400);
export const NO_FACE_FOUND = createError('NO_FACE_FOUND', 'No face found in %s (detector "%s", score threshold %s)', 422);
export const FACE_INDEX_OUT_OF_RANGE = createError('FACE_INDEX_OUT_OF_RANGE', '%s asks for face %s of %s, which has %s face(s) (indices 0..%s, largest first)', 422);
// 5xx
export const INTERNAL = createError('INTERNAL', 'Internal server error (see the server log)', 500);
export const INFERENCE_FAILED = createError('INFERENCE_FAILED', 'Inference failed: %s', 500);
export const NOT_READY = createError('NOT_READY', 'Not ready: %s', 503);
// Scheduling: model states, back-pressure, deadlines, load/unload
export const MODEL_UNAVAILABLE = createError('MODEL_UNAVAILABLE', 'Model %s', 503);
export const OVERLOADED = createError('OVERLOADED', 'The server is at capacity (%s); retry after %s s', 503);
export const DEADLINE_EXCEEDED = createError('DEADLINE_EXCEEDED', 'No answer within the request deadline of %s ms; %s', 504);
export const MODEL_LOAD_FAILED = createError('MODEL_LOAD_FAILED', 'Model "%s" could not be loaded: %s', 500);
// Galleries (1:N identification): the gallery layer writes the whole message (src/gallery).
export const BAD_LANDMARKS = createError('BAD_LANDMARKS', '%s', 400);
export const GALLERY_NOT_FOUND = createError('GALLERY_NOT_FOUND', '%s', 404);
export const IDENTITY_NOT_FOUND = createError('IDENTITY_NOT_FOUND', '%s', 404);
export const FACE_NOT_FOUND = createError('FACE_NOT_FOUND', '%s', 404);
export const GALLERY_EXISTS = createError('GALLERY_EXISTS', '%s', 409);
export const IDENTITY_EXISTS = createError('IDENTITY_EXISTS', '%s', 409);
export const IDENTITY_EMPTY = createError('IDENTITY_EMPTY', '%s', 409);
export const MODEL_MISMATCH = createError('MODEL_MISMATCH', '%s', 409);
export const GALLERY_UNAVAILABLE = createError('GALLERY_UNAVAILABLE', '%s', 503);
export const FAISS_UNAVAILABLE = createError('FAISS_UNAVAILABLE', '%s', 503);
// KServe v2 / Open Inference Protocol (/v2/models/...): raw tensors and model versions.
export const INFERENCE_REQUEST_INVALID = createError('INFERENCE_REQUEST_INVALID', 'Invalid inference request: %s', 400);
export const MODEL_VERSION_NOT_FOUND = createError('MODEL_VERSION_NOT_FOUND', 'Model "%s" has no version "%s"; it serves version %s', 404);

/** Every code the API can answer, with status and message format (docs, tests). */
export const ERROR_CODES: ReadonlyMap<string, ErrorDefinition> = registry;
