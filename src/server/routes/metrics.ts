// GET /metrics: the server's Prometheus metrics (src/server/server-metrics.ts) in the text
// exposition format, for a Prometheus scrape job (with a key of scope `metrics` when keys are on:
// `authorization: {credentials: psk_...}` in the scrape config).
import { Router, type RequestHandler } from 'express';

import type { ServerMetrics } from '../server-metrics.js';

export const METRICS_ROUTES = { metrics: '/metrics' } as const;

/** The route's entry for the OpenAPI document (paths['/metrics']). */
export const METRICS_OPENAPI_PATH = {
  get: {
    summary: 'Prometheus metrics',
    description:
      'Requests by route and status with latency histograms, batch sizes, queue depths and waits, inference time per model and execution provider, model states, gallery sizes, and process metrics. Needs a key with the scope "metrics" (or admin) when keys are on. Off with server.metrics false.',
    'x-protoserve-scope': 'metrics',
    responses: { '200': { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } } } },
  },
} as const;

export function metricsRoutes(metrics: ServerMetrics, guard: RequestHandler): Router {
  const router = Router();
  router.get(METRICS_ROUTES.metrics, guard, async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  return router;
}
