// Reads the image out of a request: multipart/form-data with a file field "image", or the raw
// bytes with an image/* (or application/octet-stream) Content-Type. Every way a body can be
// wrong (other type, empty, too big, malformed multipart, wrong field) becomes one registry error.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import multer, { MulterError } from 'multer';

import { messageOf } from '../errors.js';
import {
  BAD_REQUEST,
  IMAGE_REQUIRED,
  MULTIPART_MALFORMED,
  PAYLOAD_TOO_LARGE,
  UNSUPPORTED_MEDIA_TYPE,
  type HttpError,
} from './error-codes.js';

export const IMAGE_FIELD = 'image';
/** The two files of a 1:1 verification request. */
export const PAIR_FIELDS = ['image1', 'image2'] as const;
/** What the single-image routes accept, for UNSUPPORTED_MEDIA_TYPE. */
const ONE_IMAGE = `multipart/form-data with an "${IMAGE_FIELD}" file field, or the image bytes with an image/* Content-Type`;
const TWO_IMAGES = `multipart/form-data with file fields "${PAIR_FIELDS[0]}" and "${PAIR_FIELDS[1]}" (curl: -F ${PAIR_FIELDS[0]}=@a.jpg -F ${PAIR_FIELDS[1]}=@b.jpg)`;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Room for multipart boundaries and part headers around the file itself. */
const MULTIPART_OVERHEAD = 64 * 1024;

export interface ImageBodyOptions {
  /** Largest image accepted, in bytes (default 10 MiB). */
  maxBytes?: number;
}

/** The image bytes of the request, once imageBody() ran. */
export function imageOf(res: Response): Buffer {
  return res.locals.image as Buffer;
}

/** Middleware leaving the image bytes in res.locals.image (read them with imageOf). */
export function imageBody(options: ImageBodyOptions = {}): RequestHandler {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const raw = express.raw({ type: () => true, limit: maxBytes });
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxBytes, files: 1, fields: 16, fieldSize: 16 * 1024, parts: 32, headerPairs: 64 },
  }).single(IMAGE_FIELD);

  return (req: Request, res: Response, next: NextFunction) => {
    const length = Number(req.headers['content-length'] ?? NaN);
    const hasBody = req.headers['transfer-encoding'] !== undefined || (Number.isFinite(length) && length > 0);
    const type = req.headers['content-type'];

    if (!hasBody) {
      return next(new IMAGE_REQUIRED(`the body is empty; send multipart/form-data with a file field "${IMAGE_FIELD}", or the image bytes with an image/* Content-Type`));
    }
    if (Number.isFinite(length) && length > maxBytes + MULTIPART_OVERHEAD) return next(new PAYLOAD_TOO_LARGE(maxBytes));
    if (!type) return next(new UNSUPPORTED_MEDIA_TYPE('(none)', ONE_IMAGE));

    if (req.is('multipart/form-data')) {
      return upload(req, res, (err?: unknown) => {
        if (err) return next(multipartError(err, maxBytes, `in field "${IMAGE_FIELD}"`));
        if (!req.file) {
          const fields = Object.keys((req.body as Record<string, unknown> | undefined) ?? {});
          const detail = fields.includes(IMAGE_FIELD)
            ? `field "${IMAGE_FIELD}" is text, not a file (curl: -F ${IMAGE_FIELD}=@photo.jpg)`
            : `no file field "${IMAGE_FIELD}" in the form${fields.length ? ` (got fields ${fields.map((f) => `"${f}"`).join(', ')})` : ''}`;
          return next(new IMAGE_REQUIRED(detail));
        }
        if (req.file.size === 0) return next(new IMAGE_REQUIRED(`the file in field "${IMAGE_FIELD}" is empty`));
        res.locals.image = req.file.buffer;
        next();
      });
    }
    if (req.is(['image/*', 'application/octet-stream'])) {
      return raw(req, res, (err?: unknown) => {
        if (err) return next(bodyParserError(err, maxBytes, type));
        const body = req.body as unknown;
        if (!Buffer.isBuffer(body) || body.length === 0) return next(new IMAGE_REQUIRED('the body is empty'));
        res.locals.image = body;
        next();
      });
    }
    next(new UNSUPPORTED_MEDIA_TYPE(JSON.stringify(type), ONE_IMAGE));
  };
}

/** The two images of the request, once imagePairBody() ran. */
export function imagePairOf(res: Response): [Buffer, Buffer] {
  return res.locals.images as [Buffer, Buffer];
}

/**
 * Middleware for two images: multipart/form-data with file fields "image1" and "image2" (a raw
 * body holds one image only). Leaves them in res.locals.images (read them with imagePairOf).
 */
export function imagePairBody(options: ImageBodyOptions = {}): RequestHandler {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const expected = `in fields "${PAIR_FIELDS[0]}" and "${PAIR_FIELDS[1]}"`;
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxBytes, files: 2, fields: 16, fieldSize: 16 * 1024, parts: 32, headerPairs: 64 },
  }).fields(PAIR_FIELDS.map((name) => ({ name, maxCount: 1 })));

  return (req: Request, res: Response, next: NextFunction) => {
    const length = Number(req.headers['content-length'] ?? NaN);
    // Each of the two files may reach maxBytes (multer checks each); the whole body, twice that.
    if (Number.isFinite(length) && length > 2 * maxBytes + MULTIPART_OVERHEAD) return next(new PAYLOAD_TOO_LARGE(2 * maxBytes));
    if (!req.is('multipart/form-data')) {
      return next(new UNSUPPORTED_MEDIA_TYPE(JSON.stringify(req.headers['content-type'] ?? '(none)'), TWO_IMAGES));
    }
    upload(req, res, (err?: unknown) => {
      if (err) return next(multipartError(err, maxBytes, expected));
      const files = (req.files ?? {}) as Record<string, Express.Multer.File[] | undefined>;
      const images: Buffer[] = [];
      for (const field of PAIR_FIELDS) {
        const file = files[field]?.[0];
        if (!file) return next(new IMAGE_REQUIRED(`no file field "${field}" in the form; send the two images ${expected}`));
        if (file.size === 0) return next(new IMAGE_REQUIRED(`the file in field "${field}" is empty`));
        images.push(file.buffer);
      }
      res.locals.images = images;
      next();
    });
  };
}

export function multipartError(err: unknown, maxBytes: number, expected: string): HttpError {
  if (err instanceof MulterError) {
    switch (err.code) {
      case 'LIMIT_FILE_SIZE':
        return new PAYLOAD_TOO_LARGE(maxBytes);
      case 'LIMIT_UNEXPECTED_FILE':
        return new IMAGE_REQUIRED(`expected the file ${expected}, got a file in field "${err.field ?? '?'}"`);
      case 'LIMIT_FILE_COUNT':
        return new MULTIPART_MALFORMED(`too many files; send them ${expected}`);
      default:
        return new MULTIPART_MALFORMED(`${err.message}${err.field ? ` (field "${err.field}")` : ''}`);
    }
  }
  // busboy: missing boundary, truncated body, malformed part headers.
  return new MULTIPART_MALFORMED(messageOf(err));
}

/** body-parser errors carry `type` and a 4xx `status`. */
function bodyParserError(err: unknown, maxBytes: number, contentType: string): unknown {
  const status = (err as { status?: number }).status;
  const type = (err as { type?: string }).type;
  if (type === 'entity.too.large' || status === 413) return new PAYLOAD_TOO_LARGE(maxBytes);
  if (status === 415) return new UNSUPPORTED_MEDIA_TYPE(`${JSON.stringify(contentType)} (${messageOf(err)})`, ONE_IMAGE);
  if (typeof status === 'number' && status >= 400 && status < 500) return new BAD_REQUEST(messageOf(err));
  return err;
}
