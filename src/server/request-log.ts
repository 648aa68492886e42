// One line per request, written when the response is finished (or the client went away):
//   POST /v1/models/mnist/classify 200 4.1ms
import type { RequestHandler } from 'express';

export function requestLog(log: (line: string) => void): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const path = req.originalUrl.split('?')[0];
    let done = false;
    const write = (aborted: boolean) => {
      if (done) return;
      done = true;
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      log(`${req.method} ${path} ${aborted ? 'aborted' : res.statusCode} ${ms.toFixed(1)}ms`);
    };
    res.on('finish', () => write(false));
    res.on('close', () => write(!res.writableFinished));
    next();
  };
}
