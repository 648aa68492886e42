// Reads the face images of a gallery request (enrol, identify, verify against an identity):
// multipart/form-data with one or more files in field "image" and, optionally, a text field
// "landmarks" (JSON) with five [x, y] points per face; or one image as a raw image/* body.
// landmarks, for one image: a face [[x,y] x 5], or a list of faces; for several images: a list
// with one entry per image, each null (an aligned crop), a face, or a list of faces.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import multer from 'multer';

import type { FaceImage } from '../infer/aligned-faces.js';
import { DEFAULT_MAX_BODY_BYTES, IMAGE_FIELD, imageBody, imageOf, multipartError } from './content-type-parser.js';
import { BAD_LANDMARKS, IMAGE_REQUIRED, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE } from './error-codes.js';

export const LANDMARKS_FIELD = 'landmarks';
export const MAX_FACE_IMAGES = 16;
/** The whole multipart body: a few images of the per-image limit. */
const MAX_BODY_IMAGES = 4;
const MULTIPART_OVERHEAD = 256 * 1024;
const LANDMARKS_HELP =
  'landmarks must be JSON: for one image a face [[x, y], ...5 points] or a list of faces; for several images a list with one entry per image (null, a face, or a list of faces)';

/** The face images of the request, once faceBody() ran. */
export function faceImagesOf(res: Response): FaceImage[] {
  return res.locals.faceImages as FaceImage[];
}

export function faceBody(options: { maxBytes?: number } = {}): RequestHandler {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const single = imageBody({ maxBytes });
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxBytes, files: MAX_FACE_IMAGES, fields: 8, fieldSize: 256 * 1024, parts: MAX_FACE_IMAGES + 8, headerPairs: 64 },
  }).fields([{ name: IMAGE_FIELD, maxCount: MAX_FACE_IMAGES }]);
  const expected = `in field "${IMAGE_FIELD}" (up to ${MAX_FACE_IMAGES} files), with an optional "${LANDMARKS_FIELD}" text field`;

  return (req: Request, res: Response, next: NextFunction) => {
    if (!req.is('multipart/form-data')) {
      // One image as the raw body (or an error saying what to send).
      return single(req, res, (err?: unknown) => {
        if (err) return next(err);
        res.locals.faceImages = [{ bytes: imageOf(res) }];
        next();
      });
    }
    const length = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(length) && length > MAX_BODY_IMAGES * maxBytes + MULTIPART_OVERHEAD) return next(new PAYLOAD_TOO_LARGE(MAX_BODY_IMAGES * maxBytes));
    upload(req, res, (err?: unknown) => {
      if (err) return next(multipartError(err, maxBytes, expected));
      const files = ((req.files ?? {}) as Record<string, Express.Multer.File[] | undefined>)[IMAGE_FIELD] ?? [];
      if (files.length === 0) {
        const fields = Object.keys((req.body as Record<string, unknown> | undefined) ?? {});
        return next(new IMAGE_REQUIRED(`no file in field "${IMAGE_FIELD}"${fields.length ? ` (got fields ${fields.map((f) => `"${f}"`).join(', ')})` : ''}; send the face images ${expected}`));
      }
      const empty = files.findIndex((f) => f.size === 0);
      if (empty >= 0) return next(new IMAGE_REQUIRED(`image ${empty} (field "${IMAGE_FIELD}") is empty`));
      const raw = (req.body as Record<string, unknown> | undefined)?.[LANDMARKS_FIELD];
      let landmarks: Array<number[][] | undefined>;
      try {
        landmarks = raw === undefined ? files.map(() => undefined) : parseLandmarks(raw, files.length);
      } catch (e) {
        return next(e);
      }
      res.locals.faceImages = files.map((f, i): FaceImage => ({ bytes: f.buffer, ...(landmarks[i] ? { landmarks: landmarks[i] } : {}) }));
      next();
    });
  };
}

/** One face: five [x, y] pairs (or ten numbers) -> x1 y1 ... x5 y5; undefined if not that shape. */
function asFace(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return undefined;
  if (value.length === 10 && value.every((v) => typeof v === 'number')) return value as number[];
  if (value.length === 5 && value.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number'))) return (value as number[][]).flat();
  return undefined;
}

/** A face or a non-empty list of faces -> faces; undefined if neither. */
function asFaces(value: unknown): number[][] | undefined {
  const one = asFace(value);
  if (one) return [one];
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const faces = value.map(asFace);
  return faces.every((f) => f !== undefined) ? (faces as number[][]) : undefined;
}

/** The landmarks field -> per image: its faces, or undefined (an aligned crop). */
export function parseLandmarks(raw: unknown, images: number): Array<number[][] | undefined> {
  if (typeof raw !== 'string') throw new UNSUPPORTED_MEDIA_TYPE(`"${LANDMARKS_FIELD}" as a file`, `"${LANDMARKS_FIELD}" as a text field (curl: -F '${LANDMARKS_FIELD}=[[x,y],...]')`);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new BAD_LANDMARKS(`"${LANDMARKS_FIELD}" is not JSON (${(err as Error).message}); ${LANDMARKS_HELP}`);
  }
  if (images === 1) {
    const faces = asFaces(value);
    if (faces) return [faces];
  }
  if (!Array.isArray(value) || value.length !== images) {
    throw new BAD_LANDMARKS(`${LANDMARKS_HELP}; got ${raw.slice(0, 80)} for ${images} image${images === 1 ? '' : 's'}`);
  }
  return value.map((entry, i) => {
    if (entry === null) return undefined;
    const faces = asFaces(entry);
    if (!faces) throw new BAD_LANDMARKS(`landmarks of image ${i}: expected null, a face [[x, y], ...5 points] or a list of faces, got ${JSON.stringify(entry).slice(0, 80)}`);
    return faces;
  });
}
