// The model registry as clients see it: what is served, in which state, on which execution
// provider and with which scheduler settings; and the admin routes that load (or retry, or
// pick up from the models folder) and unload a model without a restart.
import { Router, type Request, type RequestHandler } from 'express';

import { messageOf } from '../../errors.js';
import { MODEL_LOAD_FAILED, MODEL_NOT_FOUND } from '../error-codes.js';
import { ModelNotInFolder, type ModelPool, type ServedModel } from '../model-pool.js';

export const MODEL_ROUTES = {
  list: '/v1/models',
  one: '/v1/models/:name',
  load: '/v1/models/:name/load',
  unload: '/v1/models/:name/unload',
} as const;

/** The served model named in the path, or MODEL_NOT_FOUND listing the available names. */
export function findModel(pool: ModelPool, req: Request): ServedModel {
  const name = String(req.params.name);
  const model = pool.get(name);
  if (!model) throw notFound(name, pool.names());
  return model;
}

function notFound(name: string, names: string[]) {
  return new MODEL_NOT_FOUND(name, names.length ? names.join(', ') : '(none)');
}

export function summarize(model: ServedModel) {
  const { manifest, provider, device, settings, executorKind, maxBatch } = model.session;
  const { tensor, layout, height, width, channels, color, resize } = manifest.input;
  const stats = model.session.stats();
  return {
    name: manifest.name,
    version: manifest.version,
    task: manifest.task,
    input: { tensor, layout, height, width, channels, color, resize },
    output: { ...manifest.output },
    ...(manifest.labels ? { labels: manifest.labels.length } : {}),
    ...(provider ? { executionProvider: provider, device } : {}),
    state: model.state,
    ...(model.reason ? { reason: model.reason } : {}),
    scheduler: {
      executor: executorKind ?? settings.executor,
      workers: model.session.sessions ?? settings.workers,
      max_batch: maxBatch,
      max_delay_ms: settings.maxDelayMs,
      max_queue: settings.maxQueue,
      ...(stats ? { queued: stats.queued, running: stats.running, items: stats.items, batches: stats.batches, rejected: stats.rejected } : {}),
      // Shared memory the decoders write input tensors into: slots made so far, held now.
      input_slots: model.session.inputStats(),
    },
  };
}

export function modelRoutes(pool: ModelPool, options: { admin: RequestHandler[]; read: RequestHandler }): Router {
  const router = Router();
  router.get(MODEL_ROUTES.list, options.read, (_req, res) => {
    res.json({ models: pool.list().map(summarize), unavailable: pool.unavailable });
  });
  router.get(MODEL_ROUTES.one, options.read, (req, res) => {
    res.json(findModel(pool, req).session.manifest);
  });
  router.post(MODEL_ROUTES.load, ...options.admin, async (req, res) => {
    const name = String(req.params.name);
    let model: ServedModel;
    try {
      model = await pool.load(name);
    } catch (err) {
      if (err instanceof ModelNotInFolder) throw notFound(name, err.available);
      throw new MODEL_LOAD_FAILED(name, pool.redact(messageOf(err)));
    }
    if (model.state !== 'ready') throw new MODEL_LOAD_FAILED(name, pool.redact(model.reason ?? model.state)).with({ details: { state: model.state } });
    res.json(summarize(model));
  });
  router.post(MODEL_ROUTES.unload, ...options.admin, async (req, res) => {
    const name = String(req.params.name);
    const model = await pool.unload(name);
    if (!model) throw notFound(name, pool.names());
    res.json(summarize(model));
  });
  return router;
}
