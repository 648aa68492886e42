// POST /v1/models/{detector}/detect: one photo in, every face out, each with its box, score and
// keypoints in the photo's own pixels (EXIF orientation applied), largest first. The photo is
// decoded in the decode pool and the detector runs through its model's scheduler.
import { Router, type Request } from 'express';

import type { DecodePool } from '../../infer/decode-pool.js';
import { imageBody, imageOf } from '../content-type-parser.js';
import { INVALID_PARAMETER } from '../error-codes.js';
import type { ModelPool } from '../model-pool.js';
import { sendTimedJson } from '../request-context.js';
import { faceDetectorOf, faceJson } from './face-photos.js';
import { bodyRead, modelOf, predictGuards, runOptions, timed, times, type PredictOptions } from './predict.js';

export const DETECT_ROUTES = { detect: '/v1/models/:name/detect' } as const;

export function detectRoutes(pool: ModelPool, options: PredictOptions & { decoders: DecodePool }): Router {
  const router = Router();
  router.post(
    DETECT_ROUTES.detect,
    ...predictGuards(pool, 'detector', options),
    (req, res, next) => {
      res.locals.detectOptions = { scoreThreshold: thresholdParam(req), maxFaces: maxFacesParam(req, options.maxFaces) };
      next();
    },
    imageBody({ maxBytes: options.maxBodyBytes }),
    async (_req, res) => {
      const model = modelOf(res).session;
      const context = bodyRead(res);
      const detector = faceDetectorOf(model);
      const image = await timed(context, 'decode', options.decoders.decode(imageOf(res), context));
      const faces = await detector.detect(image, res.locals.detectOptions, runOptions(context));
      sendTimedJson(res, {
        model: { name: model.name, version: model.manifest.version },
        image: { width: image.width, height: image.height },
        faces: faces.map(faceJson),
        time_ms: times(context),
      });
    },
  );
  return router;
}

/** ?score_threshold=: a probability in (0, 1) (default: the manifest's). */
function thresholdParam(req: Request): number | undefined {
  const raw = req.query.score_threshold;
  if (raw === undefined) return undefined;
  const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!(v > 0 && v < 1)) throw new INVALID_PARAMETER('score_threshold', `expected a probability in (0, 1), got ${JSON.stringify(raw)}`);
  return v;
}

/** ?max_faces=: a positive integer up to limits.max_faces (default: that limit). */
function maxFacesParam(req: Request, limit: number): number {
  const raw = req.query.max_faces;
  if (raw === undefined) return limit;
  if (typeof raw !== 'string' || !/^\d{1,6}$/.test(raw) || Number(raw) < 1) throw new INVALID_PARAMETER('max_faces', `expected a positive integer, got ${JSON.stringify(raw)}`);
  if (Number(raw) > limit) throw new INVALID_PARAMETER('max_faces', `${raw} is over the limit of ${limit} (limits.max_faces)`);
  return Number(raw);
}
