// Faces of an identity: enrol one or more (aligned crops, photos with five landmarks per face, or
// whole photos with ?input=photo: the largest detected face of each), list them, delete one.
// Each enrolment updates the identity's prototype, and is answered once it is on disk.
import { createHash } from 'node:crypto';

import { Router, type RequestHandler } from 'express';

import { admission } from '../admission.js';
import { faceBody, faceImagesOf } from '../face-body.js';
import { embedFaces, galleryOf, withGallery, type GalleryRouteOptions } from '../gallery-access.js';
import { faceView, identityView, modelView } from '../gallery-views.js';
import type { ModelPool } from '../model-pool.js';
import { contextOf, sendTimedJson } from '../request-context.js';
import { faceGuards } from './galleries.js';
import { times } from './predict.js';

export const FACE_ROUTES = {
  list: '/v1/galleries/:gallery/identities/:id/faces',
  one: '/v1/galleries/:gallery/identities/:id/faces/:face',
} as const;

export function faceRoutes(pool: ModelPool, options: GalleryRouteOptions, admit: RequestHandler = admission(options.maxInFlight)): Router {
  const router = Router();
  const read = options.access.require('infer');
  const write = options.access.require('gallery:write');

  router.post(
    FACE_ROUTES.list,
    write,
    ...faceGuards(pool, options, admit, true),
    (req, res, next) => {
      galleryOf(res).identity(String(req.params.id)); // IDENTITY_NOT_FOUND before the upload
      next();
    },
    faceBody({ maxBytes: options.maxBodyBytes }),
    async (req, res) => {
      const gallery = galleryOf(res);
      const images = faceImagesOf(res);
      // Hashed before embedding: decoding hands the bytes to a worker thread, which detaches them.
      const sha = images.map((img) => createHash('sha256').update(img.bytes).digest('hex'));
      const { faces, embeddings, detector } = await embedFaces(res, images, options);
      const added = await gallery.addFaces(
        String(req.params.id),
        faces.map((f, i) => ({
          embedding: embeddings[i],
          source: { sha256: sha[f.image], image: f.image, face: f.face, ...(f.landmarks ? { landmarks: f.landmarks } : {}) },
        })),
      );
      res.status(201);
      sendTimedJson(res, {
        model: modelView(gallery),
        identity: identityView(gallery.identity(String(req.params.id))),
        ...(detector ? { detector } : {}),
        faces: added.map((f) => faceView(f)),
        time_ms: times(contextOf(res)),
      });
    },
  );

  router.get(FACE_ROUTES.list, read, withGallery(pool, options, false), (req, res) => {
    const gallery = galleryOf(res);
    const identity = gallery.identity(String(req.params.id));
    const withEmbeddings = req.query.embeddings === 'true';
    res.json({ model: modelView(gallery), identity: identity.id, faces: identity.faces.map((f) => faceView(f, withEmbeddings)) });
  });

  router.delete(FACE_ROUTES.one, write, withGallery(pool, options, false), async (req, res) => {
    const gallery = galleryOf(res);
    await gallery.deleteFace(String(req.params.id), String(req.params.face));
    res.json({ model: modelView(gallery), deleted: { identity: String(req.params.id), face: String(req.params.face) } });
  });
  return router;
}
