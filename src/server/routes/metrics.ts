// GET /metrics: the server's Prometheus metrics (src/server/server-metrics.ts) in the text
// exposition format, for a Prometheus scrape job (with a key of scope `metrics` when keys are on:
// `authorization: {credentials: psk_...}` in the scrape config).
import { Router, type RequestHandler } from 'express';

import type { ServerMetrics } from '../server-metrics.js';

export const METRICS_ROUTES = { metrics: '/metrics' } as const;

export function metricsRoutes(metrics: ServerMetrics, guard: RequestHandler): Router {
  const router = Router();
  router.get(METRICS_ROUTES.metrics, guard, async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  return router;
}
