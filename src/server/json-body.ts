// JSON request bodies (gallery and identity resources): application/json only, 64 KiB at most,
// an object; anything else is a registry error before a route sees it.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { BAD_REQUEST, UNSUPPORTED_MEDIA_TYPE } from './error-codes.js';

const parse = express.json({ limit: '64kb', strict: true });

/** Leaves the parsed object in req.body; `optional` accepts an empty body as {}. */
export function jsonBody(optional = false): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const length = Number(req.headers['content-length'] ?? NaN);
    const empty = req.headers['transfer-encoding'] === undefined && !(length > 0);
    if (empty) {
      if (optional) {
        req.body = {};
        return next();
      }
      return next(new BAD_REQUEST('the body is empty; send a JSON object (Content-Type: application/json)'));
    }
    if (!req.is('application/json')) {
      return next(new UNSUPPORTED_MEDIA_TYPE(JSON.stringify(req.headers['content-type'] ?? '(none)'), 'a JSON object with Content-Type: application/json'));
    }
    parse(req, res, (err?: unknown) => {
      if (err) return next(err);
      const body = req.body as unknown;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return next(new BAD_REQUEST('the body must be a JSON object'));
      next();
    });
  };
}
