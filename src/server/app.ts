// The Express application: routes per resource, one error registry, one line of log per request,
// a request id, metrics, CORS and API keys in front of every route.
import express, { type Express, type Request } from 'express';

import { defaultConfig, type ServerConfig } from '../config/server-config.js';
import type { Galleries } from '../gallery/gallery-registry.js';
import { DecodePool } from '../infer/decode-pool.js';
import type { ModelSession } from '../infer/model-session.js';
import { adminGuard } from './admin-guard.js';
import { admission } from './admission.js';
import { AccessControl } from './auth/access-control.js';
import { corsPolicy } from './cors-policy.js';
import { METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND } from './error-codes.js';
import { errorHandler } from './error-handler.js';
import { consoleSink, type LogSink } from './log-sink.js';
import { KSERVE_ROUTES } from './kserve/paths.js';
import { ModelPool } from './model-pool.js';
import { requestId } from './request-id.js';
import { requestLog } from './request-log.js';
import { ServerMetrics } from './server-metrics.js';
import { DOC_ROUTES } from './openapi/doc-routes.js';
import { DETECT_ROUTES, detectRoutes } from './routes/detect.js';
import { docRoutes } from './routes/docs.js';
import { FACE_ROUTES, faceRoutes } from './routes/faces.js';
import { GALLERY_ROUTES, galleryRoutes } from './routes/galleries.js';
import { HEALTH_ROUTES, healthRoutes } from './routes/health.js';
import { IDENTITY_ROUTES, identityRoutes } from './routes/identities.js';
import { METRICS_ROUTES, metricsRoutes } from './routes/metrics.js';
import { kserveRoutes } from './routes/kserve.js';
import { MODEL_ROUTES, modelRoutes } from './routes/models.js';
import { PREDICT_ROUTES, predictRoutes } from './routes/predict.js';

export interface AppOptions {
  /**
   * The models to serve. Given sessions, a pool is made (run on the main thread, batched per
   * config.scheduler) and warmed up at once (readiness turns 200 when that finishes); given a
   * pool, warming it up is the caller's job.
   */
  models: ModelPool | readonly ModelSession[];
  /** Limits, deadlines and admin access (default: every field at its default). */
  config?: Pick<ServerConfig, 'server' | 'limits' | 'scheduler' | 'models'>;
  /** Largest request body / image, in bytes (overrides config.limits.max_body_bytes). */
  maxBodyBytes?: number;
  /** Largest decoded image, in pixels (overrides config.limits.max_pixels). */
  maxPixels?: number;
  /** The decode worker pool (default: one per config.limits; its idle workers never hold the process open). */
  decoders?: DecodePool;
  /** The galleries folder (/v1/galleries); without it, gallery routes answer GALLERY_UNAVAILABLE. */
  galleries?: Galleries;
  /** No per-request log lines. */
  quiet?: boolean;
  /** Where request lines go (default stdout, in config.server.log_format). */
  log?: LogSink;
  /** Where 5xx details go (default stderr, in config.server.log_format). */
  logError?: LogSink;
  /** Who may call what (default: no keys required; startServer decides from the config). */
  access?: AccessControl;
  /** The metrics GET /metrics answers (default: new ones, without process metrics; none when config.server.metrics is false). */
  metrics?: ServerMetrics;
}

/** Paths that never need an API key: health (probes), the web page and the API document. */
export const PUBLIC_PATHS: readonly string[] = [HEALTH_ROUTES.live, HEALTH_ROUTES.ready, DOC_ROUTES.page, DOC_ROUTES.openapi];

/** Routes and the methods they answer, for 405s. */
const ALLOWED: ReadonlyArray<[string, string]> = [
  [HEALTH_ROUTES.live, 'GET, HEAD'],
  [HEALTH_ROUTES.ready, 'GET, HEAD'],
  [MODEL_ROUTES.list, 'GET, HEAD'],
  [MODEL_ROUTES.one, 'GET, HEAD'],
  [MODEL_ROUTES.load, 'POST'],
  [MODEL_ROUTES.unload, 'POST'],
  [PREDICT_ROUTES.classify, 'POST'],
  [PREDICT_ROUTES.embed, 'POST'],
  [PREDICT_ROUTES.verify, 'POST'],
  [DETECT_ROUTES.detect, 'POST'],
  [GALLERY_ROUTES.list, 'GET, HEAD, POST'],
  [GALLERY_ROUTES.one, 'GET, HEAD, DELETE'],
  [GALLERY_ROUTES.identify, 'POST'],
  [IDENTITY_ROUTES.list, 'GET, HEAD, POST'],
  [IDENTITY_ROUTES.one, 'GET, HEAD, PATCH, DELETE'],
  [IDENTITY_ROUTES.verify, 'POST'],
  [FACE_ROUTES.list, 'GET, HEAD, POST'],
  [FACE_ROUTES.one, 'DELETE'],
  [METRICS_ROUTES.metrics, 'GET, HEAD'],
  [KSERVE_ROUTES.server, 'GET, HEAD'],
  [KSERVE_ROUTES.model, 'GET, HEAD'],
  [KSERVE_ROUTES.modelVersion, 'GET, HEAD'],
  [KSERVE_ROUTES.ready, 'GET, HEAD'],
  [KSERVE_ROUTES.readyVersion, 'GET, HEAD'],
  [KSERVE_ROUTES.infer, 'POST'],
  [KSERVE_ROUTES.inferVersion, 'POST'],
  [DOC_ROUTES.page, 'GET, HEAD'],
  [DOC_ROUTES.asset, 'GET, HEAD'],
  [DOC_ROUTES.openapi, 'GET, HEAD'],
];

export function createApp(options: AppOptions): Express {
  const config = options.config ?? defaultConfig();
  const pool = options.models instanceof ModelPool ? options.models : new ModelPool(options.models, [], { config });
  if (!(options.models instanceof ModelPool)) void pool.warmup();
  const limits = { ...config.limits, maxBodyBytes: options.maxBodyBytes ?? config.limits.maxBodyBytes, maxPixels: options.maxPixels ?? config.limits.maxPixels };
  const decoders =
    options.decoders ??
    new DecodePool({ concurrency: limits.concurrentDecodes, maxQueued: limits.maxQueuedDecodes, maxPixels: limits.maxPixels, maxFaces: limits.maxFaces });

  const access = options.access ?? AccessControl.open();
  const metrics = config.server.metrics ? (options.metrics ?? new ServerMetrics({ pool, galleries: options.galleries, decoders })) : undefined;
  const cors = corsPolicy(config.server.corsOrigins);

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestId());
  if (metrics) app.use(metrics.middleware());
  if (!options.quiet) app.use(requestLog(options.log ?? consoleSink(config.server.logFormat, 'info')));
  if (cors) app.use(cors);
  // The web page, its assets and the API document are public: the page asks for a key itself.
  app.use(docRoutes());
  app.use(access.authenticate(PUBLIC_PATHS));

  app.use(healthRoutes(pool));
  if (metrics) app.use(metricsRoutes(metrics, access.require('metrics')));
  app.use(modelRoutes(pool, { admin: adminGuard(config.server.adminRoutes, access), read: access.require('infer') }));
  const predictOptions = {
    access,
    maxBodyBytes: limits.maxBodyBytes,
    maxTopK: limits.maxTopK,
    maxInFlight: limits.maxInFlightRequests,
    deadlineMs: config.server.requestDeadlineMs,
    maxFaces: limits.maxFaces,
    decoders,
  };
  app.use(predictRoutes(pool, predictOptions));
  app.use(detectRoutes(pool, predictOptions));
  app.use(kserveRoutes(pool, { ...predictOptions, maxTensorBodyBytes: config.limits.maxTensorBodyBytes }));
  const galleryOptions = { ...predictOptions, galleries: options.galleries };
  const admitFaces = admission(predictOptions.maxInFlight);
  app.use(galleryRoutes(pool, galleryOptions, admitFaces), identityRoutes(pool, galleryOptions, admitFaces), faceRoutes(pool, galleryOptions, admitFaces));

  for (const [path, allowed] of ALLOWED) {
    app.all(path, (req: Request, res) => {
      res.setHeader('Allow', allowed);
      throw new METHOD_NOT_ALLOWED(req.method, req.path, allowed);
    });
  }
  app.use((req: Request) => {
    throw new ROUTE_NOT_FOUND(req.method, req.path);
  });
  app.use(errorHandler({ logError: options.logError ?? consoleSink(config.server.logFormat, 'error'), maxBodyBytes: limits.maxBodyBytes }));
  return app;
}
