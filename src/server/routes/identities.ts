// Identities of a gallery: create with metadata, list page by page, read, patch the metadata
// (JSON Merge Patch), delete; and 1:1 verification of a face against an enrolled identity's
// prototype (the normalized mean of its embeddings).
import { Router, type RequestHandler } from 'express';

import { GalleryError } from '../../gallery/gallery-error.js';
import { BAD_REQUEST } from '../error-codes.js';
import { admission } from '../admission.js';
import { faceBody, faceImagesOf } from '../face-body.js';
import { embedFaces, galleryModelOf, galleryOf, intParam, withGallery, type GalleryRouteOptions } from '../gallery-access.js';
import { identityView, modelView } from '../gallery-views.js';
import { jsonBody } from '../json-body.js';
import type { ModelPool } from '../model-pool.js';
import { chooseOperatingPoint, type OperatingPointChoice } from '../operating-point.js';
import { contextOf, sendTimedJson } from '../request-context.js';
import { faceBox, faceGuards } from './galleries.js';
import { times } from './predict.js';

export const IDENTITY_ROUTES = {
  list: '/v1/galleries/:gallery/identities',
  one: '/v1/galleries/:gallery/identities/:id',
  verify: '/v1/galleries/:gallery/identities/:id/verify',
} as const;

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 1000;

function only(body: Record<string, unknown>, keys: string[], what: string): void {
  for (const key of Object.keys(body)) if (!keys.includes(key)) throw new BAD_REQUEST(`unknown field "${key}"; ${what}`);
}

export function identityRoutes(pool: ModelPool, options: GalleryRouteOptions, admit: RequestHandler = admission(options.maxInFlight)): Router {
  const router = Router();
  const read = options.access.require('infer');
  const write = options.access.require('gallery:write');

  router.post(IDENTITY_ROUTES.list, write, withGallery(pool, options, false), jsonBody(), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    only(body, ['id', 'metadata'], 'an identity is {id, metadata?}');
    const gallery = galleryOf(res);
    const identity = await gallery.createIdentity(body.id as string, body.metadata);
    res.status(201).json({ model: modelView(gallery), identity: identityView(identity) });
  });

  router.get(IDENTITY_ROUTES.list, read, withGallery(pool, options, false), (req, res) => {
    const gallery = galleryOf(res);
    const limit = intParam(req, 'limit', DEFAULT_PAGE, MAX_PAGE);
    const cursor = req.query.cursor;
    if (cursor !== undefined && typeof cursor !== 'string') throw new BAD_REQUEST('cursor must be given once');
    const page = gallery.page(limit, cursor);
    res.json({ model: modelView(gallery), identities: page.identities.map(identityView), total: gallery.identityCount, next: page.next ?? null });
  });

  router.get(IDENTITY_ROUTES.one, read, withGallery(pool, options, false), (req, res) => {
    const gallery = galleryOf(res);
    res.json({ model: modelView(gallery), identity: identityView(gallery.identity(String(req.params.id))) });
  });

  router.patch(IDENTITY_ROUTES.one, write, withGallery(pool, options, false), jsonBody(), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    only(body, ['metadata'], 'PATCH takes {metadata: {...}} (JSON Merge Patch: null removes a key)');
    if (body.metadata === undefined) throw new BAD_REQUEST('PATCH takes {metadata: {...}} (JSON Merge Patch: null removes a key)');
    const gallery = galleryOf(res);
    const identity = await gallery.updateIdentity(String(req.params.id), body.metadata);
    res.json({ model: modelView(gallery), identity: identityView(identity) });
  });

  router.delete(IDENTITY_ROUTES.one, write, withGallery(pool, options, false), async (req, res) => {
    const gallery = galleryOf(res);
    const id = String(req.params.id);
    await gallery.deleteIdentity(id);
    res.json({ model: modelView(gallery), deleted: { identity: id } });
  });

  router.post(
    IDENTITY_ROUTES.verify,
    read,
    ...faceGuards(pool, options, admit),
    (req, res, next) => {
      const gallery = galleryOf(res);
      const id = String(req.params.id);
      if (!gallery.prototype(id)) throw new GalleryError('IDENTITY_EMPTY', `Identity ${JSON.stringify(id)} of gallery "${gallery.name}" has no enrolled faces to verify against`);
      res.locals.operatingPoint = chooseOperatingPoint(req, galleryModelOf(res).session.manifest);
      next();
    },
    faceBody({ maxBytes: options.maxBodyBytes }),
    async (req, res) => {
      const gallery = galleryOf(res);
      const chosen = res.locals.operatingPoint as OperatingPointChoice;
      const { faces, embeddings, detector } = await embedFaces(res, faceImagesOf(res), options);
      // The identity may have changed while the images were read and embedded.
      const identity = gallery.identity(String(req.params.id));
      const prototype = gallery.prototype(identity.id);
      if (!prototype) throw new GalleryError('IDENTITY_EMPTY', `Identity ${JSON.stringify(identity.id)} of gallery "${gallery.name}" has no enrolled faces to verify against`);
      sendTimedJson(res, {
        model: modelView(gallery),
        gallery: gallery.name,
        identity: identity.id,
        operating_point: chosen,
        ...(detector ? { detector } : {}),
        faces: faces.map((f, i) => {
          let similarity = 0;
          for (let j = 0; j < prototype.length; j++) similarity += embeddings[i][j] * prototype[j];
          return { image: f.image, face: f.face, ...faceBox(f), similarity, same: chosen.threshold === null ? null : similarity > chosen.threshold };
        }),
        time_ms: times(contextOf(res)),
      });
    },
  );
  return router;
}
