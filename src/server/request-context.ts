// Per prediction request: its deadline and AbortSignal (aborted when the deadline passes or the
// client goes away; the decode pool and the model's queue drop its work then), and where its
// time went, answered as a Server-Timing header: parse (reading the body), decode (decoding
// and preprocessing, queue included), queue (waiting for inference), inference (the batch run),
// serialize (JSON encoding of the answer).
import type { NextFunction, Request, RequestHandler, Response } from 'express';

import type { RunTiming } from '../infer/scheduled-model.js';
import { SchedulerError } from '../infer/scheduler-error.js';
import { DEADLINE_EXCEEDED, INVALID_PARAMETER } from './error-codes.js';

/** A request may ask for a shorter deadline than the server's, in ms. */
export const DEADLINE_HEADER = 'x-request-deadline-ms';

export interface RequestContext {
  signal: AbortSignal;
  deadlineMs: number;
  /** performance.now() when the request reached the route. */
  started: number;
  times: { parse: number; decode: number } & RunTiming & { serialize: number };
}

export function contextOf(res: Response): RequestContext {
  return res.locals.context as RequestContext;
}

/**
 * Middleware starting the request's clock, deadline and signal (before the body is read, so a
 * slow upload counts against the deadline too).
 */
export function requestContext(maxDeadlineMs: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const deadlineMs = deadlineParam(req, maxDeadlineMs);
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DEADLINE_EXCEEDED(deadlineMs, `the server is busy or the deadline is too short (set it with ${DEADLINE_HEADER}, at most ${maxDeadlineMs} ms)`)),
      deadlineMs,
    );
    timer.unref();
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) controller.abort(new SchedulerError('CANCELLED', 'the client closed the connection'));
    });
    const context: RequestContext = {
      signal: controller.signal,
      deadlineMs,
      started: performance.now(),
      times: { parse: 0, decode: 0, queueMs: 0, inferenceMs: 0, batchSize: 0, serialize: 0 },
    };
    res.locals.context = context;
    next();
  };
}

/** Throws the abort reason if the request's deadline passed (or the client left) already. */
export function checkAlive(context: RequestContext): void {
  if (context.signal.aborted) throw context.signal.reason;
}

/** Sends `body` as JSON with the Server-Timing header of the request's stages. */
export function sendTimedJson(res: Response, body: unknown): void {
  sendTimed(res, () => JSON.stringify(body), 'application/json');
}

/** Sends what `serialize` makes (its time is the serialize stage) with the Server-Timing header. */
export function sendTimed(res: Response, serialize: () => string | Buffer, type: string): void {
  const context = contextOf(res);
  const t0 = performance.now();
  const body = serialize();
  const { times } = context;
  times.serialize = performance.now() - t0;
  const metric = (name: string, ms: number) => `${name};dur=${ms.toFixed(3)}`;
  res.setHeader(
    'Server-Timing',
    [metric('parse', times.parse), metric('decode', times.decode), metric('queue', times.queueMs), metric('inference', times.inferenceMs), metric('serialize', times.serialize), `batch;desc=${times.batchSize}`].join(', '),
  );
  res.type(type).send(body);
}

function deadlineParam(req: Request, max: number): number {
  const raw = req.headers[DEADLINE_HEADER];
  if (raw === undefined) return max;
  const text = Array.isArray(raw) ? raw.join(',') : raw;
  const ms = /^\d{1,9}$/.test(text.trim()) ? Number(text) : NaN;
  if (!(ms >= 1)) throw new INVALID_PARAMETER(`header ${DEADLINE_HEADER}`, `expected a whole number of milliseconds >= 1, got ${JSON.stringify(text)}`);
  return Math.min(ms, max);
}
