// KServe v2-style health: live once the process answers; ready once every loaded model is ready
// (each model's state is listed either way; an unloaded model does not count).
import { Router } from 'express';

import { NOT_READY } from '../error-codes.js';
import type { ModelPool } from '../model-pool.js';

export const HEALTH_ROUTES = { live: '/v2/health/live', ready: '/v2/health/ready' } as const;

export function healthRoutes(pool: ModelPool): Router {
  const router = Router();
  router.get(HEALTH_ROUTES.live, (_req, res) => {
    res.json({ live: true });
  });
  router.get(HEALTH_ROUTES.ready, (_req, res) => {
    const readiness = pool.readiness();
    if (!readiness.ready) throw new NOT_READY(readiness.reason).with({ details: { models: readiness.models } });
    res.json({ ready: true, models: readiness.models });
  });
  return router;
}
