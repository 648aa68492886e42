// What every gallery route needs: the gallery named in the path, the served model it was built
// with (one model per gallery: embeddings of another model, or of other weights under the same
// name, are not comparable), and the faces of the request embedded by that model (through the
// decode pool, the detector and the model's scheduler, with the request's deadline).
import type { NextFunction, Request, RequestHandler, Response } from 'express';

import type { Gallery } from '../gallery/gallery.js';
import type { AccessControl } from './auth/access-control.js';
import type { Galleries } from '../gallery/gallery-registry.js';
import { GalleryError } from '../gallery/gallery-error.js';
import { alignedFaces, type AlignedFace, type FaceFinder, type FaceImage } from '../infer/aligned-faces.js';
import type { DecodePool } from '../infer/decode-pool.js';
import type { FaceDetector } from '../infer/face-detection/face-detector.js';
import { detectPhotoFaces } from '../infer/photo-faces.js';
import { INVALID_PARAMETER } from './error-codes.js';
import type { ModelPool, ServedModel } from './model-pool.js';
import { detectorFor, faceInputParam } from './routes/face-photos.js';
import { bodyRead, runOptions, timed } from './routes/predict.js';

export interface GalleryRouteOptions {
  /** API keys: reads and identification need `infer`, changes `gallery:write`. */
  access: AccessControl;
  /** The galleries folder; without it every gallery route answers GALLERY_UNAVAILABLE. */
  galleries?: Galleries;
  maxBodyBytes: number;
  /** Requests in flight at once (limits.max_in_flight_requests). */
  maxInFlight: number;
  /** Default and largest deadline, ms. */
  deadlineMs: number;
  /** Decoding off the main thread. */
  decoders: DecodePool;
  /** Most faces detected in one photo (limits.max_faces). */
  maxFaces: number;
}

export function galleriesOf(options: GalleryRouteOptions): Galleries {
  if (!options.galleries) {
    throw new GalleryError('GALLERY_UNAVAILABLE', 'This server has no galleries folder (start it with --galleries DIR)');
  }
  return options.galleries;
}

/** The served model a gallery was built with; MODEL_MISMATCH when the served one differs. */
export function galleryModel(pool: ModelPool, gallery: Gallery, req?: Request): ServedModel {
  const want = gallery.meta.model;
  const asked = req?.query.model;
  if (asked !== undefined && asked !== want.name) {
    throw new GalleryError(
      'MODEL_MISMATCH',
      `Gallery "${gallery.name}" holds embeddings of model "${want.name}"; ${JSON.stringify(asked)}'s embeddings are not comparable with them (omit model= or use a gallery built with it)`,
    );
  }
  const served = pool.get(want.name);
  if (!served) {
    throw new GalleryError('GALLERY_UNAVAILABLE', `Gallery "${gallery.name}" was built with model "${want.name}" (sha256 ${want.sha256.slice(0, 12)}...), which this server does not serve`);
  }
  const m = served.session.manifest;
  if (m.sha256 !== want.sha256 || m.output.dimension !== want.dimension) {
    throw new GalleryError(
      'MODEL_MISMATCH',
      `Gallery "${gallery.name}" was built with model "${want.name}" ${want.version} (sha256 ${want.sha256.slice(0, 12)}...); the served "${m.name}" is ${m.version} ` +
        `(sha256 ${m.sha256.slice(0, 12)}...): embeddings of different weights are not comparable. Serve the original model, or build a new gallery with this one`,
    );
  }
  return served;
}

/** Resolves the gallery (and its model) before any body is read; see galleryOf / modelOf. */
export function withGallery(pool: ModelPool, options: GalleryRouteOptions, needsModel: boolean): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const gallery = galleriesOf(options).get(String(req.params.gallery));
    res.locals.gallery = gallery;
    if (needsModel) res.locals.model = galleryModel(pool, gallery, req);
    next();
  };
}

export function galleryOf(res: Response): Gallery {
  return res.locals.gallery as Gallery;
}

export function galleryModelOf(res: Response): ServedModel {
  return res.locals.model as ServedModel;
}

export interface EmbeddedFaces {
  faces: AlignedFace[];
  embeddings: Float32Array[];
  /** The detector that found the faces of whole photos (?input=photo), if any. */
  detector?: { name: string; version: string };
}

/**
 * Before the body is read: how this request's images become faces. ?input=photo (or the
 * embedder's manifest face.input) detects faces with the served detector (?detector=, the
 * manifest's, or the only one); otherwise images are aligned crops, or photos with landmarks.
 */
export function withFaceFinder(pool: ModelPool, options: GalleryRouteOptions, largestOnly = false): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const embedder = galleryModelOf(res).session;
    res.locals.detector = faceInputParam(req, embedder.manifest) === 'photo' ? detectorFor(pool, embedder, req) : undefined;
    res.locals.largestOnly = largestOnly;
    next();
  };
}

/** Aligns the faces of the request's images and embeds them in one batch. */
export async function embedFaces(res: Response, images: readonly FaceImage[], options: GalleryRouteOptions): Promise<EmbeddedFaces> {
  const model = galleryModelOf(res).session;
  const context = bodyRead(res);
  const run = runOptions(context);
  const detector = res.locals.detector as FaceDetector | undefined;
  const decode = (bytes: Uint8Array) => options.decoders.decode(bytes, context);
  const { input, face } = model.manifest;
  const finder: FaceFinder = {
    decode,
    largestOnly: res.locals.largestOnly as boolean,
    ...(detector
      ? {
          detect: async (bytes: Uint8Array) => ({
            detector: detector.name,
            ...(await detectPhotoFaces(bytes, detector, { size: input.width, templateScale: face?.templateScale, maxFaces: options.maxFaces, decode, run })),
          }),
        }
      : {}),
  };
  const faces = await timed(context, 'decode', alignedFaces(images, input, finder));
  const batch = new Float32Array(faces.length * model.itemSize);
  faces.forEach((f, i) => batch.set(f.tensor, i * model.itemSize));
  const embeddings = await model.embed(batch, faces.length, run);
  return { faces, embeddings, ...(detector ? { detector: { name: detector.name, version: detector.session.manifest.version } } : {}) };
}

/** A positive integer query parameter no larger than `max` (default when absent). */
export function intParam(req: Request, name: string, fallback: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new INVALID_PARAMETER(name, `expected an integer from 1 to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

