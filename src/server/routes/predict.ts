// POST /v1/models/{name}/classify (classifiers) and /embed (embedders): one image in,
// top-k {label, score} or a unit-length vector out; /verify (embedders): two images in, their
// cosine similarity and the same/different decision at the model's operating points.
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { DEFAULT_TOP_K } from '../../infer/model-session.js';
import { preprocessImage } from '../../infer/preprocess.js';
import type { Task } from '../../artifact/manifest.js';
import { imageBody, imageOf, imagePairBody, imagePairOf } from '../content-type-parser.js';
import { INVALID_PARAMETER, WRONG_TASK } from '../error-codes.js';
import type { ModelPool, ServedModel } from '../model-pool.js';
import { chooseOperatingPoint, servedOperatingPoints, type OperatingPointChoice } from '../operating-point.js';
import { findModel } from './models.js';

export const PREDICT_ROUTES = {
  classify: '/v1/models/:name/classify',
  embed: '/v1/models/:name/embed',
  verify: '/v1/models/:name/verify',
} as const;

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

  router.post(PREDICT_ROUTES.verify, withModel(pool, 'embedder'), checkOperatingPoint, imagePairBody({ maxBytes: options.maxBodyBytes }), async (_req, res) => {
    const started = performance.now();
    const model = modelOf(res);
    const { manifest } = model.session;
    const chosen = res.locals.operatingPoint as OperatingPointChoice;
    const [a, b] = await Promise.all(imagePairOf(res).map((img) => preprocessImage(img, manifest.input, { maxPixels: options.maxPixels })));
    const batch = new Float32Array(a.length * 2);
    batch.set(a, 0);
    batch.set(b, a.length);
    const preprocessed = performance.now();
    const [u, v] = await model.session.embed(batch, 2);
    const inferred = performance.now();
    let similarity = 0;
    for (let i = 0; i < u.length; i++) similarity += u[i] * v[i];
    // A threshold is the impostor score that FAR of impostor pairs exceed (protoserve eval
    // --calibrate): a pair is judged the same identity when its similarity is above it.
    res.json({
      model: { name: manifest.name, version: manifest.version },
      similarity,
      decision: chosen.threshold === null ? null : { far: chosen.far, threshold: chosen.threshold, same: similarity > chosen.threshold },
      operating_point: chosen,
      operating_points: servedOperatingPoints(manifest).map((p) => ({ far: p.far, threshold: p.threshold, same: similarity > p.threshold })),
      time_ms: times(started, preprocessed, inferred),
    });
  });
  return router;
}

/** Resolves ?threshold= / ?far= before the (up to two images) body is read. */
const checkOperatingPoint: RequestHandler = (req, res, next) => {
  res.locals.operatingPoint = chooseOperatingPoint(req, modelOf(res).session.manifest);
  next();
};

/**
 * Resolves the model and checks its task and the query before the body is read, so a typo in
 * the URL or a wrong task answers at once instead of after a 10 MB upload.
 */
function withModel(pool: ModelPool, task: Task): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const model = findModel(pool, req);
    if (model.session.manifest.task !== task) {
      const other = model.session.manifest.task === 'classifier' ? 'classify' : 'embed (or verify)';
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

export function times(started: number, preprocessed: number, inferred: number) {
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
