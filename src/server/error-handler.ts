// The last middleware: whatever was thrown becomes a registry error, answered as
// {error: {code, message}} with the registry's status ({error: message, code} on the KServe
// routes, the Open Inference Protocol's shape). Unknown errors are logged with their
// stack and answered INTERNAL without details (they may hold paths or internals).
import type { ErrorRequestHandler } from 'express';

import { messageOf } from '../errors.js';
import { GalleryError } from '../gallery/gallery-error.js';
import { InferError } from '../infer/infer-error.js';
import { SchedulerError } from '../infer/scheduler-error.js';
import { DEFAULT_MAX_BODY_BYTES } from './content-type-parser.js';
import type { LogSink } from './log-sink.js';
import { requestIdOf } from './request-id.js';
import {
  BAD_REQUEST,
  ERROR_CODES,
  HttpError,
  IMAGE_TOO_LARGE,
  IMAGE_UNREADABLE,
  INFERENCE_FAILED,
  INTERNAL,
  MODEL_UNAVAILABLE,
  OVERLOADED,
  PAYLOAD_TOO_LARGE,
} from './error-codes.js';
import { isKservePath } from './kserve/paths.js';

export function toHttpError(err: unknown, maxBodyBytes = DEFAULT_MAX_BODY_BYTES): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof InferError) {
    switch (err.code) {
      case 'IMAGE_UNREADABLE':
        return new IMAGE_UNREADABLE(err.message);
      case 'IMAGE_TOO_LARGE':
        return new IMAGE_TOO_LARGE(err.message);
      case 'INFERENCE_FAILED':
        return new INFERENCE_FAILED(err.message);
      case 'NO_FACE_FOUND':
      case 'BAD_LANDMARKS':
        return whole(err);
      default:
        break;
    }
  }
  if (err instanceof GalleryError && ERROR_CODES.has(err.code)) return whole(err);
  if (err instanceof SchedulerError) {
    switch (err.code) {
      case 'QUEUE_FULL':
        return new OVERLOADED(err.message, err.retryAfterS ?? 1).with({ retryAfterS: err.retryAfterS ?? 1 });
      case 'MODEL_UNAVAILABLE':
        return new MODEL_UNAVAILABLE(err.message).with({ retryAfterS: err.retryAfterS, details: { state: err.state } });
      case 'CANCELLED':
        // The client is gone; this answer reaches nobody.
        return new BAD_REQUEST(err.message);
      default:
        break;
    }
  }
  // Errors from express/router/body-parser for a bad request (e.g. a malformed %-escape in the path).
  const status = (err as { status?: unknown; statusCode?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode;
  if (status === 413) return new PAYLOAD_TOO_LARGE(maxBodyBytes);
  if (typeof status === 'number' && status >= 400 && status < 500) return new BAD_REQUEST(messageOf(err));
  return new INTERNAL();
}

/** An error whose code is a registry code and whose message is already the whole answer. */
function whole(err: InferError | GalleryError): HttpError {
  const def = ERROR_CODES.get(err.code) as { code: string; statusCode: number };
  return new HttpError(def.code, def.statusCode, err.message);
}

export function errorHandler(options: { logError: LogSink; maxBodyBytes: number }): ErrorRequestHandler {
  const { logError, maxBodyBytes } = options;
  return (err, req, res, next) => {
    if (res.headersSent) return next(err); // express closes the connection
    const httpError = toHttpError(err, maxBodyBytes);
    res.locals.errorCode = httpError.code; // for the request's log line and metrics
    // Registry errors thrown on purpose (e.g. NOT_READY) are expected; anything else that ends
    // in a 5xx is a bug or a runtime failure worth its stack in the log.
    if (httpError.statusCode >= 500 && !(err instanceof HttpError)) {
      logError(`${req.method} ${req.originalUrl}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, { request_id: requestIdOf(res) });
    }
    if (httpError.retryAfterS !== undefined) res.setHeader('Retry-After', String(httpError.retryAfterS));
    res.status(httpError.statusCode).json(isKservePath(req.path) ? httpError.toKserveJSON() : httpError.toJSON());
  };
}
