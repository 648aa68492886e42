// Every request gets an id, answered in the X-Request-Id header and written in its log line (and
// in the log line of a 5xx), so a client's report can be matched with the server's log. A
// client's own X-Request-Id (a proxy's or a tracer's) is kept when it is sane: 1 to 128
// characters of letters, digits and . _ ~ : @ + = / -; anything else is replaced by a UUID.
import { randomUUID } from 'node:crypto';

import type { RequestHandler, Response } from 'express';

export const REQUEST_ID_HEADER = 'X-Request-Id';
const SANE_ID = /^[A-Za-z0-9._~:@+=/-]{1,128}$/;

export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && SANE_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader(REQUEST_ID_HEADER, id);
    next();
  };
}

/** The request's id (set by requestId()). */
export function requestIdOf(res: Response): string | undefined {
  return res.locals.requestId as string | undefined;
}
