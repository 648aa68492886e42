// Reads the body of an inference request: a JSON $inference_request, or, with Triton's binary
// tensor data extension (an Inference-Header-Content-Length header), that JSON object followed
// by the inputs' raw bytes. Clients send it as application/json, application/octet-stream, or
// with no Content-Type at all (Triton's Python client); anything else is refused.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { messageOf } from '../../errors.js';
import { BAD_REQUEST, INFERENCE_REQUEST_INVALID, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE } from '../error-codes.js';

export const HEADER_LENGTH = 'inference-header-content-length';
const ACCEPTED = ['application/json', 'application/octet-stream'];

export interface InferenceBody {
  json: unknown;
  /** The bytes after the JSON header (binary tensor data), if any. */
  binary?: Uint8Array;
}

export function inferenceBodyOf(res: Response): InferenceBody {
  return res.locals.inferenceBody as InferenceBody;
}

export function inferenceBody(maxBytes: number): RequestHandler {
  const raw = express.raw({ type: () => true, limit: maxBytes });
  return (req: Request, res: Response, next: NextFunction) => {
    const type = req.headers['content-type'];
    if (type !== undefined && !req.is(ACCEPTED)) {
      return next(new UNSUPPORTED_MEDIA_TYPE(JSON.stringify(type), 'an $inference_request as application/json (binary tensor data: application/octet-stream with Inference-Header-Content-Length)'));
    }
    raw(req, res, (err?: unknown) => {
      if (err) {
        const status = (err as { status?: number }).status;
        return next(status === 413 ? new PAYLOAD_TOO_LARGE(maxBytes) : new BAD_REQUEST(messageOf(err)));
      }
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (body.length === 0) return next(new INFERENCE_REQUEST_INVALID('the body is empty; send an $inference_request JSON object {"inputs": [...]}'));
      try {
        res.locals.inferenceBody = split(body, req.headers[HEADER_LENGTH]);
      } catch (e) {
        return next(e);
      }
      next();
    });
  };
}

function split(body: Buffer, header: string | string[] | undefined): InferenceBody {
  let jsonLength = body.length;
  if (header !== undefined) {
    const text = Array.isArray(header) ? header.join(',') : header;
    jsonLength = /^\d{1,12}$/.test(text.trim()) ? Number(text) : NaN;
    if (!(jsonLength >= 1 && jsonLength <= body.length)) {
      throw new INFERENCE_REQUEST_INVALID(`header Inference-Header-Content-Length is ${JSON.stringify(text)}; it must be the JSON header's byte length, 1 to ${body.length}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8', 0, jsonLength));
  } catch (err) {
    throw new INFERENCE_REQUEST_INVALID(`the ${header === undefined ? 'body' : 'JSON header'} is not JSON (${messageOf(err)})`);
  }
  return jsonLength === body.length ? { json } : { json, binary: body.subarray(jsonLength) };
}
