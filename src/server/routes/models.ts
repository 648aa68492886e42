// The model registry as clients see it: what is served, on which execution provider.
import { Router, type Request } from 'express';

import { MODEL_NOT_FOUND } from '../error-codes.js';
import type { ModelPool, ServedModel } from '../model-pool.js';

export const MODEL_ROUTES = { list: '/v1/models', one: '/v1/models/:name' } as const;

/** The served model named in the path, or MODEL_NOT_FOUND listing the available names. */
export function findModel(pool: ModelPool, req: Request): ServedModel {
  const name = String(req.params.name);
  const model = pool.get(name);
  if (!model) {
    const names = pool.names();
    throw new MODEL_NOT_FOUND(name, names.length ? names.join(', ') : '(none)');
  }
  return model;
}

export function summarize(model: ServedModel) {
  const { manifest, provider, device } = model.session;
  const { tensor, layout, height, width, channels, color, resize } = manifest.input;
  return {
    name: manifest.name,
    version: manifest.version,
    task: manifest.task,
    input: { tensor, layout, height, width, channels, color, resize },
    output: { ...manifest.output },
    ...(manifest.labels ? { labels: manifest.labels.length } : {}),
    executionProvider: provider,
    device,
    state: model.state,
    ...(model.reason ? { reason: model.reason } : {}),
  };
}

export function modelRoutes(pool: ModelPool): Router {
  const router = Router();
  router.get(MODEL_ROUTES.list, (_req, res) => {
    res.json({ models: pool.list().map(summarize), unavailable: pool.unavailable });
  });
  router.get(MODEL_ROUTES.one, (req, res) => {
    res.json(findModel(pool, req).session.manifest);
  });
  return router;
}
