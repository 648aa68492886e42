// POST /v1/models/{name}/classify (classifiers) and /embed (embedders): one image in,
// top-k {label, score} or a unit-length vector out; /verify (embedders): two images in, their
// cosine similarity and the same/different decision at the model's operating points.
// A face embedder also takes whole photos (?input=photo, or its manifest's face.input): the
// served detector finds and aligns the faces first; /embed answers every face, /verify compares
// the largest face of each photo (or ?face1= / ?face2=).
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { DEFAULT_TOP_K, type ModelSession } from '../../infer/model-session.js';
import { detectPhotoFaces, type PhotoFaces } from '../../infer/photo-faces.js';
import { preprocessImage } from '../../infer/preprocess.js';
import type { Task } from '../../artifact/manifest.js';
import type { OperatingPoint } from '../../artifact/manifest.js';
import { imageBody, imageOf, imagePairBody, imagePairOf } from '../content-type-parser.js';
import { INVALID_PARAMETER, NO_FACE_FOUND, WRONG_TASK } from '../error-codes.js';
import type { ModelPool, ServedModel } from '../model-pool.js';
import { detectorFor, faceIndexParam, faceInputParam, faceJson, pickFace } from './face-photos.js';
import { findModel } from './models.js';

export const PREDICT_ROUTES = {
  classify: '/v1/models/:name/classify',
  embed: '/v1/models/:name/embed',
  verify: '/v1/models/:name/verify',
} as const;

/** The operating point a verification decides at when the request names none (if the model has it). */
export const DEFAULT_VERIFY_FAR = 1e-4;

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

  router.post(PREDICT_ROUTES.embed, withModel(pool, 'embedder'), withFaces(pool, options.maxPixels), body, async (_req, res) => {
    const started = performance.now();
    const model = modelOf(res);
    const { manifest } = model.session;
    const faces = res.locals.faces as FacesOfPhotos | undefined;
    if (faces) {
      const photo = await faces.find(imageOf(res), 'the image');
      const preprocessed = performance.now();
      const vectors = await model.session.embedPixels(photo.faces.map((f) => f.aligned));
      const inferred = performance.now();
      res.json({
        model: { name: manifest.name, version: manifest.version },
        detector: faces.detector,
        image: { width: photo.width, height: photo.height },
        faces: photo.faces.map((f, i) => ({ ...faceJson(f), embedding: Array.from(vectors[i]) })),
        dimension: manifest.output.dimension,
        time_ms: times(started, preprocessed, inferred),
      });
      return;
    }
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

  router.post(PREDICT_ROUTES.verify, withModel(pool, 'embedder'), checkFar, withFaces(pool, options.maxPixels, ['face1', 'face2']), imagePairBody({ maxBytes: options.maxBodyBytes }), async (_req, res) => {
    const started = performance.now();
    const model = modelOf(res);
    const { manifest } = model.session;
    const points = manifest.operatingPoints ?? [];
    const chosen = res.locals.operatingPoint as OperatingPoint | undefined;
    const faces = res.locals.faces as FacesOfPhotos | undefined;
    let u: Float32Array;
    let v: Float32Array;
    let preprocessed: number;
    let compared: object[] | undefined;
    if (faces) {
      const photos = await Promise.all(imagePairOf(res).map((img, i) => faces.find(img, `image${i + 1}`)));
      const picked = photos.map((photo, i) => pickFace(photo.faces, faces.indices[i], `face${i + 1}`, `image${i + 1}`));
      preprocessed = performance.now();
      [u, v] = await model.session.embedPixels(picked.map((f) => f.aligned));
      compared = picked.map((f, i) => ({ image: `image${i + 1}`, index: faces.indices[i], faces: photos[i].faces.length, ...faceJson(f) }));
    } else {
      const [a, b] = await Promise.all(imagePairOf(res).map((img) => preprocessImage(img, manifest.input, { maxPixels: options.maxPixels })));
      const batch = new Float32Array(a.length * 2);
      batch.set(a, 0);
      batch.set(b, a.length);
      preprocessed = performance.now();
      [u, v] = await model.session.embed(batch, 2);
    }
    const inferred = performance.now();
    let similarity = 0;
    for (let i = 0; i < u.length; i++) similarity += u[i] * v[i];
    // A threshold is the impostor score that FAR of impostor pairs exceed (protoserve eval
    // --calibrate): a pair is judged the same identity when its similarity is above it.
    const decide = (p: OperatingPoint) => ({ far: p.far, threshold: p.threshold, same: similarity > p.threshold });
    res.json({
      model: { name: manifest.name, version: manifest.version },
      ...(faces ? { detector: faces.detector, faces: compared } : {}),
      similarity,
      decision: chosen ? decide(chosen) : null,
      operating_points: points.map(decide),
      ...(points.length === 0 ? { note: 'the model has no operating points: run protoserve eval --calibrate to add them' } : {}),
      time_ms: times(started, preprocessed, inferred),
    });
  });
  return router;
}

/** How whole photos become faces for one request (set by withFaces when the input is a photo). */
interface FacesOfPhotos {
  detector: { name: string; version: string };
  /** /verify: the face index asked for in each photo. */
  indices: number[];
  /** Detects and aligns every face; NO_FACE_FOUND when there is none. */
  find(bytes: Uint8Array, what: string): Promise<PhotoFaces>;
}

/**
 * Before the body is read: when the embedder's input is a whole photo (?input=photo or its
 * manifest), resolves the detector and the ?face1=/?face2= indices (`indexParams`), so that a
 * wrong parameter answers at once.
 */
function withFaces(pool: ModelPool, maxPixels: number | undefined, indexParams: string[] = []): RequestHandler {
  return (req, res, next) => {
    const embedder: ModelSession = modelOf(res).session;
    if (faceInputParam(req, embedder.manifest) !== 'photo') {
      const stray = indexParams.find((p) => req.query[p] !== undefined);
      if (stray) throw new INVALID_PARAMETER(stray, 'face indices pick faces in whole photos; this request sends aligned crops (add ?input=photo)');
      return next();
    }
    const detector = detectorFor(pool, embedder, req);
    const { input, face } = embedder.manifest;
    if (input.width !== input.height) throw new WRONG_TASK(embedder.name, `an embedder of ${input.width}x${input.height} inputs`, 'aligned face crops are square: send crops with ?input=aligned');
    const faces: FacesOfPhotos = {
      detector: { name: detector.name, version: detector.session.manifest.version },
      indices: indexParams.map((p) => faceIndexParam(req, p)),
      find: async (bytes, what) => {
        const photo = await detectPhotoFaces(bytes, detector, { size: input.width, templateScale: face?.templateScale, maxPixels });
        if (photo.faces.length === 0) throw new NO_FACE_FOUND(what, detector.name, detector.spec.scoreThreshold);
        return photo;
      },
    };
    res.locals.faces = faces;
    next();
  };
}

/** Resolves ?far= before the (up to two images) body is read; see operatingPointParam. */
const checkFar: RequestHandler = (req, res, next) => {
  const { session } = modelOf(res);
  res.locals.operatingPoint = operatingPointParam(req, session.manifest.operatingPoints ?? [], session.name);
  next();
};

/**
 * ?far=: the operating point to decide at, one of the model's (default 1e-4 when the model has
 * it, else the strictest one, the smallest FAR). None when the model has no operating points.
 */
function operatingPointParam(req: Request, points: readonly OperatingPoint[], name: string): OperatingPoint | undefined {
  const raw = req.query.far;
  const available = points.map((p) => p.far).join(', ');
  const near = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
  if (raw === undefined) return points.find((p) => near(p.far, DEFAULT_VERIFY_FAR)) ?? points[0];
  const far = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!(far > 0 && far <= 1)) throw new INVALID_PARAMETER('far', `expected a false accept rate in (0, 1], got ${JSON.stringify(raw)}`);
  const point = points.find((p) => near(p.far, far));
  if (!point) {
    throw new INVALID_PARAMETER(
      'far',
      points.length === 0
        ? `model "${name}" has no operating points; run protoserve eval --calibrate to add them`
        : `model "${name}" has no operating point at FAR ${far}; it has ${available}`,
    );
  }
  return point;
}

/**
 * Resolves the model and checks its task and the query before the body is read, so a typo in
 * the URL or a wrong task answers at once instead of after a 10 MB upload.
 */
function withModel(pool: ModelPool, task: Task): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const model = findModel(pool, req);
    if (model.session.manifest.task !== task) {
      const other = { classifier: 'classify', embedder: 'embed (or verify)', detector: 'detect' }[model.session.manifest.task];
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
