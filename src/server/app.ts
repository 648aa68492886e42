// The Express application: routes per resource, one error registry, one line of log per request.
import express, { type Express, type Request } from 'express';

import type { ModelSession } from '../infer/model-session.js';
import { DEFAULT_MAX_BODY_BYTES } from './content-type-parser.js';
import { METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND } from './error-codes.js';
import { errorHandler } from './error-handler.js';
import { ModelPool } from './model-pool.js';
import { requestLog } from './request-log.js';
import { DETECT_ROUTES, detectRoutes } from './routes/detect.js';
import { HEALTH_ROUTES, healthRoutes } from './routes/health.js';
import { MODEL_ROUTES, modelRoutes } from './routes/models.js';
import { PREDICT_ROUTES, predictRoutes } from './routes/predict.js';

export interface AppOptions {
  /**
   * The models to serve. Given sessions, a pool is made and warmed up at once (readiness
   * turns 200 when that finishes); given a pool, warming it up is the caller's job.
   */
  models: ModelPool | readonly ModelSession[];
  /** Largest request body / image, in bytes (default 10 MiB). */
  maxBodyBytes?: number;
  /** Largest decoded image, in pixels (default 64 Mpx). */
  maxPixels?: number;
  /** No per-request log lines. */
  quiet?: boolean;
  /** Where request lines go (default console.log). */
  log?: (line: string) => void;
  /** Where 5xx details go (default console.error). */
  logError?: (line: string) => void;
}

/** Routes and the methods they answer, for 405s. */
const ALLOWED: ReadonlyArray<[string, string]> = [
  [HEALTH_ROUTES.live, 'GET, HEAD'],
  [HEALTH_ROUTES.ready, 'GET, HEAD'],
  [MODEL_ROUTES.list, 'GET, HEAD'],
  [MODEL_ROUTES.one, 'GET, HEAD'],
  [PREDICT_ROUTES.classify, 'POST'],
  [PREDICT_ROUTES.embed, 'POST'],
  [PREDICT_ROUTES.verify, 'POST'],
  [DETECT_ROUTES.detect, 'POST'],
];

export function createApp(options: AppOptions): Express {
  const pool = options.models instanceof ModelPool ? options.models : new ModelPool(options.models);
  if (!(options.models instanceof ModelPool)) void pool.warmup();
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  if (!options.quiet) app.use(requestLog(options.log ?? ((line) => console.log(line))));

  app.use(healthRoutes(pool));
  app.use(modelRoutes(pool));
  app.use(predictRoutes(pool, { maxBodyBytes, maxPixels: options.maxPixels }));
  app.use(detectRoutes(pool, { maxBodyBytes, maxPixels: options.maxPixels }));

  for (const [path, allowed] of ALLOWED) {
    app.all(path, (req: Request, res) => {
      res.setHeader('Allow', allowed);
      throw new METHOD_NOT_ALLOWED(req.method, req.path, allowed);
    });
  }
  app.use((req: Request) => {
    throw new ROUTE_NOT_FOUND(req.method, req.path);
  });
  app.use(errorHandler({ logError: options.logError ?? ((line) => console.error(line)), maxBodyBytes }));
  return app;
}

