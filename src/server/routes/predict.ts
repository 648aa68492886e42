// POST /v1/models/{name}/classify (classifiers) and /embed (embedders): one image in,
// top-k {label, score} or a unit-length vector out; /verify (embedders): two images in, their
// cosine similarity and the same/different decision at the model's operating points.
// A face embedder also takes whole photos (?input=photo, or its manifest's face.input): the
// served detector finds and aligns the faces first; /embed answers every face, /verify compares
// the largest face of each photo (or ?face1= / ?face2=).
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { withArticle } from '../../infer/task-words.js';
import type { Task } from '../../artifact/manifest.js';
import type { DecodePool } from '../../infer/decode-pool.js';
import { DEFAULT_TOP_K } from '../../infer/model-session.js';
import { detectPhotoFaces, type PhotoFaces } from '../../infer/photo-faces.js';
import type { EncodedRunOptions, RunOptions, ScheduledModel } from '../../infer/scheduled-model.js';
import { admission } from '../admission.js';
import type { AccessControl } from '../auth/access-control.js';
import { imageBody, imageOf, imagePairBody, imagePairOf } from '../content-type-parser.js';
import { INVALID_PARAMETER, NO_FACE_FOUND, WRONG_TASK } from '../error-codes.js';
import type { ModelPool, ServedModel } from '../model-pool.js';
import { chooseOperatingPoint, servedOperatingPoints, type OperatingPointChoice } from '../operating-point.js';
import { checkAlive, contextOf, requestContext, sendTimedJson, type RequestContext } from '../request-context.js';
import { detectorFor, faceIndexParam, faceInputParam, faceJson, pickFace } from './face-photos.js';
import { findModel } from './models.js';

export const PREDICT_ROUTES = {
  classify: '/v1/models/:name/classify',
  embed: '/v1/models/:name/embed',
  verify: '/v1/models/:name/verify',
} as const;

export interface PredictOptions {
  /** API keys: every prediction route needs the scope `infer`. */
  access: AccessControl;
  maxBodyBytes: number;
  /** Largest ?top_k=. */
  maxTopK: number;
  /** Requests in flight at once (limits.max_in_flight_requests). */
  maxInFlight: number;
  /** Default and largest deadline, ms. */
  deadlineMs: number;
  /** Decoding and preprocessing off the main thread. */
  decoders: DecodePool;
  /** Most faces detected and embedded in one photo (limits.max_faces). */
  maxFaces: number;
}

/**
 * What every prediction route runs before reading the body: the API key's `infer` scope, the
 * in-flight cap, the model (found, of the task, ready), its query parameters, and the request's
 * deadline. Routes that other modules add (detect, galleries, KServe inference on raw tensors:
 * task 'any') use it too.
 */
export function predictGuards(pool: ModelPool, task: Task | 'any', options: Pick<PredictOptions, 'access' | 'maxInFlight' | 'deadlineMs' | 'maxTopK'>): RequestHandler[] {
  return [options.access.require('infer'), admission(options.maxInFlight), withModel(pool, task, options.maxTopK), requestContext(options.deadlineMs)];
}

export function predictRoutes(pool: ModelPool, options: PredictOptions): Router {
  const router = Router();
  const body = imageBody({ maxBytes: options.maxBodyBytes });
  const { decoders } = options;

  router.post(PREDICT_ROUTES.classify, ...predictGuards(pool, 'classifier', options), body, async (req, res) => {
    const model = modelOf(res).session;
    const context = bodyRead(res);
    const k = topKParam(req, options.maxTopK);
    const [row] = await model.runEncoded([imageOf(res)], decoders, encodedRunOptions(context));
    sendTimedJson(res, {
      model: { name: model.name, version: model.manifest.version },
      predictions: model.predictions(row, k),
      time_ms: times(context),
    });
  });

  router.post(PREDICT_ROUTES.embed, ...predictGuards(pool, 'embedder', options), withFaces(pool, options), body, async (_req, res) => {
    const model = modelOf(res).session;
    const context = bodyRead(res);
    const faces = res.locals.faces as FacesOfPhotos | undefined;
    if (faces) {
      const photo = await timed(context, 'decode', faces.find(imageOf(res), 'the image', context));
      const vectors = await model.embedPixels(photo.faces.map((f) => f.aligned), runOptions(context));
      sendTimedJson(res, {
        model: { name: model.name, version: model.manifest.version },
        detector: faces.detector,
        image: { width: photo.width, height: photo.height },
        faces: photo.faces.map((f, i) => ({ ...faceJson(f), embedding: Array.from(vectors[i]) })),
        dimension: model.manifest.output.dimension,
        time_ms: times(context),
      });
      return;
    }
    const [vector] = await model.embedEncoded([imageOf(res)], decoders, encodedRunOptions(context));
    sendTimedJson(res, {
      model: { name: model.name, version: model.manifest.version },
      embedding: Array.from(vector),
      dimension: vector.length,
      time_ms: times(context),
    });
  });

  router.post(
    PREDICT_ROUTES.verify,
    ...predictGuards(pool, 'embedder', options),
    checkOperatingPoint,
    withFaces(pool, options, ['face1', 'face2']),
    imagePairBody({ maxBytes: options.maxBodyBytes }),
    async (_req, res) => {
    const model = modelOf(res).session;
    const context = bodyRead(res);
    const chosen = res.locals.operatingPoint as OperatingPointChoice;
    const faces = res.locals.faces as FacesOfPhotos | undefined;
    let u: Float32Array;
    let v: Float32Array;
    let compared: object[] | undefined;
    if (faces) {
      const photos = await timed(context, 'decode', Promise.all(imagePairOf(res).map((img, i) => faces.find(img, `image${i + 1}`, context))));
      const picked = photos.map((photo, i) => pickFace(photo.faces, faces.indices[i], `face${i + 1}`, `image${i + 1}`));
      [u, v] = await model.embedPixels(picked.map((f) => f.aligned), runOptions(context));
      compared = picked.map((f, i) => ({ image: `image${i + 1}`, index: faces.indices[i], faces: photos[i].faces.length, ...faceJson(f) }));
    } else {
      [u, v] = await model.embedEncoded(imagePairOf(res), decoders, encodedRunOptions(context));
    }
    let similarity = 0;
    for (let i = 0; i < u.length; i++) similarity += u[i] * v[i];
    // A threshold is the impostor score that FAR of impostor pairs exceed (protoserve eval
    // --calibrate): a pair is judged the same identity when its similarity is above it.
    sendTimedJson(res, {
      model: { name: model.name, version: model.manifest.version },
      similarity,
      decision: chosen.threshold === null ? null : { far: chosen.far, threshold: chosen.threshold, same: similarity > chosen.threshold },
      operating_point: chosen,
      operating_points: servedOperatingPoints(model.manifest).map((p) => ({ far: p.far, threshold: p.threshold, same: similarity > p.threshold })),
      ...(faces ? { detector: faces.detector, faces: compared } : {}),
      time_ms: times(context),
    });
    },
  );
  return router;
}

/** How whole photos become faces for one request (set by withFaces when the input is a photo). */
interface FacesOfPhotos {
  detector: { name: string; version: string };
  /** /verify: the face index asked for in each photo. */
  indices: number[];
  /** Decodes (in the decode pool), detects (through the detector's scheduler) and aligns every face; NO_FACE_FOUND when there is none. */
  find(bytes: Uint8Array, what: string, context: RequestContext): Promise<PhotoFaces>;
}

/**
 * Before the body is read: when the embedder's input is a whole photo (?input=photo or its
 * manifest), resolves the detector and the ?face1=/?face2= indices (`indexParams`), so that a
 * wrong parameter answers at once.
 */
function withFaces(pool: ModelPool, options: Pick<PredictOptions, 'decoders' | 'maxFaces'>, indexParams: string[] = []): RequestHandler {
  return (req, res, next) => {
    const embedder: ScheduledModel = modelOf(res).session;
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
      find: async (bytes, what, context) => {
        const photo = await detectPhotoFaces(bytes, detector, {
          size: input.width,
          templateScale: face?.templateScale,
          maxFaces: options.maxFaces,
          decode: (b) => options.decoders.decode(b, context),
          run: runOptions(context),
        });
        if (photo.faces.length === 0) throw new NO_FACE_FOUND(what, detector.name, detector.spec.scoreThreshold);
        return photo;
      },
    };
    res.locals.faces = faces;
    next();
  };
}

/** Marks the body as read (the parse time) and checks the deadline has not passed meanwhile. */
export function bodyRead(res: Response): RequestContext {
  const context = contextOf(res);
  context.times.parse = performance.now() - context.started;
  checkAlive(context);
  return context;
}

/** The request's signal, and its timing record for the scheduler to fill. */
export function runOptions(context: RequestContext): RunOptions {
  return { signal: context.signal, timing: context.times };
}

/** runOptions, with the decoding time of encoded images counted as the decode stage. */
function encodedRunOptions(context: RequestContext): EncodedRunOptions {
  return { ...runOptions(context), onDecoded: (ms) => (context.times.decode += ms) };
}

export async function timed<T>(context: RequestContext, stage: 'decode', work: Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await work;
  } finally {
    context.times[stage] += performance.now() - t0;
  }
}

/** Resolves ?threshold= / ?far= before the (up to two images) body is read. */
const checkOperatingPoint: RequestHandler = (req, res, next) => {
  res.locals.operatingPoint = chooseOperatingPoint(req, modelOf(res).session.manifest);
  next();
};

/**
 * Resolves the model and checks its task, its state and the query before the body is read, so
 * a typo in the URL, a wrong task or a model that is not ready answers at once instead of
 * after a 10 MB upload.
 */
function withModel(pool: ModelPool, task: Task | 'any', maxTopK: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const model = findModel(pool, req);
    const { name, manifest } = model.session;
    if (task !== 'any' && manifest.task !== task) {
      const other = { classifier: 'classify', embedder: 'embed (or verify)', detector: 'detect' }[manifest.task];
      throw new WRONG_TASK(name, `${withArticle(manifest.task)}, not ${withArticle(task)}`, `use POST /v1/models/${name}/${other}`);
    }
    model.session.checkReady();
    if (task === 'classifier') topKParam(req, maxTopK);
    res.locals.model = model;
    next();
  };
}

export function modelOf(res: Response): ServedModel {
  return res.locals.model as ServedModel;
}

/** ?top_k=: a positive integer up to limits.max_top_k (default 5); more than the label count returns every label. */
function topKParam(req: Request, max: number): number {
  const raw = req.query.top_k;
  if (raw === undefined) return DEFAULT_TOP_K;
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw) || Number(raw) < 1) {
    throw new INVALID_PARAMETER('top_k', `expected a positive integer, got ${JSON.stringify(raw)}`);
  }
  if (Number(raw) > max) throw new INVALID_PARAMETER('top_k', `${raw} is over the limit of ${max} (limits.max_top_k)`);
  return Number(raw);
}

/** The request's stages in ms (also in the Server-Timing header). */
export function times(context: RequestContext) {
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  const t = context.times;
  return {
    parse: round(t.parse),
    preprocess: round(t.decode),
    queue: round(t.queueMs),
    inference: round(t.inferenceMs),
    total: round(performance.now() - context.started),
  };
}
