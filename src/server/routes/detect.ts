// POST /v1/models/{detector}/detect: one photo in, every face out, each with its box, score and
// keypoints in the photo's own pixels (EXIF orientation applied), largest first.
import { Router, type Request } from 'express';

import { decodeImage } from '../../infer/preprocess.js';
import { imageBody, imageOf } from '../content-type-parser.js';
import { INVALID_PARAMETER, WRONG_TASK } from '../error-codes.js';
import type { ModelPool } from '../model-pool.js';
import { faceDetectorOf, faceJson } from './face-photos.js';
import { findModel } from './models.js';

export const DETECT_ROUTES = { detect: '/v1/models/:name/detect' } as const;

export function detectRoutes(pool: ModelPool, options: { maxBodyBytes?: number; maxPixels?: number } = {}): Router {
  const router = Router();
  router.post(
    DETECT_ROUTES.detect,
    (req, res, next) => {
      const model = findModel(pool, req);
      const { task, name } = model.session.manifest;
      if (task !== 'detector') throw new WRONG_TASK(name, `${task === 'embedder' ? 'an' : 'a'} ${task}, not a detector`, task === 'classifier' ? `use POST /v1/models/${name}/classify` : `use POST /v1/models/${name}/embed`);
      res.locals.detector = faceDetectorOf(model.session);
      res.locals.detectOptions = { scoreThreshold: thresholdParam(req), maxFaces: maxFacesParam(req) };
      next();
    },
    imageBody({ maxBytes: options.maxBodyBytes }),
    async (_req, res) => {
      const started = performance.now();
      const detector = res.locals.detector as ReturnType<typeof faceDetectorOf>;
      const image = await decodeImage(imageOf(res), { maxPixels: options.maxPixels });
      const decoded = performance.now();
      const faces = await detector.detect(image, res.locals.detectOptions);
      const { manifest } = detector.session;
      res.json({
        model: { name: manifest.name, version: manifest.version },
        image: { width: image.width, height: image.height },
        faces: faces.map(faceJson),
        time_ms: { decode: round(decoded - started), detect: round(performance.now() - decoded), total: round(performance.now() - started) },
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

/** ?max_faces=: a positive integer (default: all). */
function maxFacesParam(req: Request): number | undefined {
  const raw = req.query.max_faces;
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,4}$/.test(raw) || Number(raw) < 1) throw new INVALID_PARAMETER('max_faces', `expected a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
