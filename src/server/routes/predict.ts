// POST /v1/models/{name}/classify (classifiers) and /embed (embedders): one image in,
// top-k {label, score} or a unit-length vector out, with where the time went.
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { DEFAULT_TOP_K } from '../../infer/model-session.js';
import { preprocessImage } from '../../infer/preprocess.js';
import type { Task } from '../../artifact/manifest.js';
import { imageBody, imageOf } from '../content-type-parser.js';
import { INVALID_PARAMETER, WRONG_TASK } from '../error-codes.js';
import type { ModelPool, ServedModel } from '../model-pool.js';
import { findModel } from './models.js';

export const PREDICT_ROUTES = { classify: '/v1/models/:name/classify', embed: '/v1/models/:name/embed' } as const;

export interface PredictOptions {
  maxBodyBytes?: number;
  /** Largest decoded image, in pixels. */
  maxPixels?: number;
}

export function predictRoutes(pool: ModelPool, options: PredictOptions = {}): Router {
  const router = Router();
  const body = imageBody({ maxBytes: options.maxBodyBytes });

  router.post(PREDICT_ROUTES.classify, withModel(pool, 'classifier'), body, async (req, res) => {
    const started = performance.now();
    const model = modelOf(res);
    const k = topKParam(req);
    const { manifest } = model.session;
    const tensor = await preprocessImage(imageOf(res), manifest.input, { maxPixels: options.maxPixels });
    const preprocessed = performance.now();
    const [row] = await model.session.run(tensor, 1);
    const inferred = performance.now();
    const predictions = model.session.predictions(row, k);
    res.json({
      model: { name: manifest.name, version: manifest.version },
      predictions,
      time_ms: times(started, preprocessed, inferred),
    });
  });

  router.post(PREDICT_ROUTES.embed, withModel(pool, 'embedder'), body, async (_req, res) => {
    const started = performance.now();
    const model = modelOf(res);
    const { manifest } = model.session;
    const tensor = await preprocessImage(imageOf(res), manifest.input, { maxPixels: options.maxPixels });
    const preprocessed = performance.now();
    const [vector] = await model.session.embed(tensor, 1);
    const inferred = performance.now();
    res.json({
      model: { name: manifest.name, version: manifest.version },
      embedding: Array.from(vector),
      dimension: vector.length,
      time_ms: times(started, preprocessed, inferred),
    });
  });
  return router;
}

/**
 * Resolves the model and checks its task and the query before the body is read, so a typo in
 * the URL or a wrong task answers at once instead of after a 10 MB upload.
 */
function withModel(pool: ModelPool, task: Task): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const model = findModel(pool, req);
    if (model.session.manifest.task !== task) {
      const other = model.session.manifest.task === 'classifier' ? 'classify' : 'embed';
      throw new WRONG_TASK(model.session.name, `${article(model.session.manifest.task)}, not ${article(task)}`, `use POST /v1/models/${model.session.name}/${other}`);
    }
    if (task === 'classifier') topKParam(req);
    res.locals.model = model;
    next();
  };
}

function modelOf(res: Response): ServedModel {
  return res.locals.model as ServedModel;
}

/** ?top_k=: a positive integer (default 5); more than the label count returns every label. */
function topKParam(req: Request): number {
  const raw = req.query.top_k;
  if (raw === undefined) return DEFAULT_TOP_K;
  if (typeof raw !== 'string' || !/^\d{1,6}$/.test(raw) || Number(raw) < 1) {
    throw new INVALID_PARAMETER('top_k', `expected a positive integer, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function times(started: number, preprocessed: number, inferred: number) {
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return {
    preprocess: round(preprocessed - started),
    inference: round(inferred - preprocessed),
    total: round(performance.now() - started),
  };
}

function article(task: string): string {
  return `${/^[aeiou]/.test(task) ? 'an' : 'a'} ${task}`;
}
