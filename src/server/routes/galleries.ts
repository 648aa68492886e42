// Galleries: create (bound to one served embedder), list, describe, delete; and 1:N
// identification of every face in a request against a gallery's prototypes, with an explicit
// unknown when the best match is not above the operating point's threshold.
import { Router, type RequestHandler } from 'express';

import { GALLERY_FORMAT, GALLERY_FORMAT_VERSION, checkGalleryName, type GalleryMeta } from '../../gallery/gallery.js';
import { parseIndexSpec } from '../../gallery/gallery-store.js';
import { checkMetadata } from '../../gallery/identity.js';
import { withArticle } from '../../infer/task-words.js';
import { admission } from '../admission.js';
import { BAD_REQUEST, MODEL_NOT_FOUND, WRONG_TASK } from '../error-codes.js';
import { faceBody, faceImagesOf } from '../face-body.js';
import { embedFaces, galleriesOf, galleryModelOf, galleryOf, intParam, withFaceFinder, withGallery, type GalleryRouteOptions } from '../gallery-access.js';
import { galleryView, modelView } from '../gallery-views.js';
import { jsonBody } from '../json-body.js';
import type { ModelPool } from '../model-pool.js';
import { chooseOperatingPoint, type OperatingPointChoice } from '../operating-point.js';
import { contextOf, requestContext, sendTimedJson } from '../request-context.js';
import { faceJson } from './face-photos.js';
import { times } from './predict.js';

export const GALLERY_ROUTES = {
  list: '/v1/galleries',
  one: '/v1/galleries/:gallery',
  identify: '/v1/galleries/:gallery/identify',
} as const;

/** Candidates per face by default, and at most. */
export const DEFAULT_K = 5;
export const MAX_K = 100;

/**
 * The guards of a route that embeds faces: the in-flight cap (`admit`, shared by the gallery
 * routes), the gallery and its model, the request's deadline, and how its images become faces.
 */
export function faceGuards(pool: ModelPool, options: GalleryRouteOptions, admit: RequestHandler, largestOnly = false): RequestHandler[] {
  return [admit, withGallery(pool, options, true), requestContext(options.deadlineMs), withFaceFinder(pool, options, largestOnly)];
}

export function galleryRoutes(pool: ModelPool, options: GalleryRouteOptions, admit: RequestHandler = admission(options.maxInFlight)): Router {
  const router = Router();
  const read = options.access.require('infer');
  const write = options.access.require('gallery:write');

  router.post(GALLERY_ROUTES.list, write, jsonBody(), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    for (const key of Object.keys(body)) {
      if (!['name', 'model', 'index', 'metadata'].includes(key)) throw new BAD_REQUEST(`unknown field "${key}"; a gallery is {name, model, index?, metadata?}`);
    }
    const name = checkGalleryName(body.name);
    if (typeof body.model !== 'string') throw new BAD_REQUEST('"model" must name the served embedder the gallery is built with');
    const served = pool.get(body.model);
    if (!served) throw new MODEL_NOT_FOUND(body.model, pool.names().join(', ') || '(none)');
    const m = served.session.manifest;
    if (m.task !== 'embedder') throw new WRONG_TASK(m.name, withArticle(m.task), 'a gallery needs an embedder');
    const meta: GalleryMeta = {
      format: GALLERY_FORMAT,
      version: GALLERY_FORMAT_VERSION,
      name,
      model: { name: m.name, version: m.version, sha256: m.sha256, dimension: m.output.dimension },
      index: parseIndexSpec(body.index),
      created: new Date().toISOString(),
      metadata: checkMetadata(body.metadata),
    };
    const gallery = await galleriesOf(options).create(meta);
    res.status(201).json({ model: modelView(gallery), gallery: galleryView(gallery) });
  });

  router.get(GALLERY_ROUTES.list, read, (_req, res) => {
    const galleries = galleriesOf(options);
    res.json({ galleries: galleries.list().map(galleryView), unavailable: galleries.unavailable().map(({ name, code, message }) => ({ name, code, message: message.split(galleries.dir).join('galleries folder') })) });
  });

  router.get(GALLERY_ROUTES.one, read, withGallery(pool, options, false), async (_req, res) => {
    const gallery = galleryOf(res);
    res.json({ model: modelView(gallery), gallery: { ...galleryView(gallery), store: await gallery.storeStats() } });
  });

  router.delete(GALLERY_ROUTES.one, write, withGallery(pool, options, false), async (_req, res) => {
    const gallery = galleryOf(res);
    await galleriesOf(options).delete(gallery.name);
    res.json({ model: modelView(gallery), deleted: { gallery: gallery.name } });
  });

  router.post(
    GALLERY_ROUTES.identify,
    read,
    ...faceGuards(pool, options, admit),
    (req, res, next) => {
      res.locals.k = intParam(req, 'k', DEFAULT_K, MAX_K);
      res.locals.operatingPoint = chooseOperatingPoint(req, galleryModelOf(res).session.manifest);
      next();
    },
    faceBody({ maxBytes: options.maxBodyBytes }),
    async (_req, res) => {
      const gallery = galleryOf(res);
      const chosen = res.locals.operatingPoint as OperatingPointChoice;
      const { faces, embeddings, detector } = await embedFaces(res, faceImagesOf(res), options);
      const d = gallery.meta.model.dimension;
      const queries = new Float32Array(embeddings.length * d);
      embeddings.forEach((e, i) => queries.set(e, i * d));
      const t = performance.now();
      const matches = await gallery.search(queries, res.locals.k as number);
      const searchMs = performance.now() - t;
      const threshold = chosen.threshold;
      sendTimedJson(res, {
        model: modelView(gallery),
        gallery: gallery.name,
        operating_point: chosen,
        ...(detector ? { detector } : {}),
        faces: faces.map((f, i) => {
          const candidates = matches[i].map((m) => ({
            identity: m.identity.id,
            similarity: m.similarity,
            metadata: m.identity.metadata,
            match: threshold === null ? null : m.similarity > threshold,
          }));
          const best = candidates[0];
          // Unknown: nobody above the threshold (or nobody at all); undecided without a threshold.
          const unknown = !best ? true : threshold === null ? null : !(best.similarity > threshold);
          return { image: f.image, face: f.face, ...faceBox(f), identity: unknown === false ? best.identity : null, unknown, candidates };
        }),
        time_ms: { ...times(contextOf(res)), search: Math.round(searchMs * 1000) / 1000 },
      });
    },
  );
  return router;
}

/** A face's box (and the detector's score, for detected faces) as answers carry them. */
export function faceBox(f: { box: { x: number; y: number; width: number; height: number }; score?: number }) {
  const { box, score } = faceJson({ box: f.box, score: f.score ?? 0, keypoints: [] });
  return f.score === undefined ? { box } : { box, score };
}
