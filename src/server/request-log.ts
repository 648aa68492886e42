// One line per request, written when the response is finished (or the client went away). The
// message is the short form `POST /v1/models/mnist/classify 200 4.1ms`; the fields carry the
// rest for JSON logs: request_id, method, path (never the query string), route (the route's
// pattern, e.g. /v1/models/:name/classify), status, duration_ms, remote address, the API key's
// id, the model, and the error code of a 4xx/5xx.
import type { Request, RequestHandler, Response } from 'express';

import type { LogSink } from './log-sink.js';
import { requestIdOf } from './request-id.js';

/** The pattern of the route that answered (`/v1/models/:name/classify`), or `unmatched`. */
export function routeLabel(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? path : 'unmatched';
}

export function requestLog(log: LogSink): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const path = req.originalUrl.split('?')[0];
    let done = false;
    const write = (aborted: boolean) => {
      if (done) return;
      done = true;
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      log(`${req.method} ${path} ${aborted ? 'aborted' : res.statusCode} ${ms.toFixed(1)}ms`, {
        request_id: requestIdOf(res),
        method: req.method,
        path,
        route: routeLabel(req),
        status: aborted ? null : res.statusCode,
        ...(aborted ? { aborted: true } : {}),
        duration_ms: Math.round(ms * 10) / 10,
        remote: req.socket.remoteAddress,
        key_id: (res.locals.principal as { keyId?: string } | undefined)?.keyId,
        model: modelName(res),
        error: res.locals.errorCode as string | undefined,
      });
    };
    res.on('finish', () => write(false));
    res.on('close', () => write(!res.writableFinished));
    next();
  };
}

function modelName(res: Response): string | undefined {
  return (res.locals.model as { session?: { name?: string } } | undefined)?.session?.name;
}
