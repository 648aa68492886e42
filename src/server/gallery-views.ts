// The JSON shapes of galleries, identities and faces in answers.
import type { Gallery } from '../gallery/gallery.js';
import type { Face, Identity } from '../gallery/identity.js';

/** The model a gallery's answers name (every gallery answer carries it). */
export function modelView(gallery: Gallery) {
  const { name, version } = gallery.meta.model;
  return { name, version };
}

export function galleryView(gallery: Gallery) {
  const { name, model, index, created, metadata } = gallery.meta;
  return { name, model, index, identities: gallery.identityCount, faces: gallery.faceCount, created, metadata };
}

export function identityView(identity: Identity) {
  return {
    id: identity.id,
    metadata: identity.metadata,
    faces: identity.faces.length,
    ...(identity.seed ? { seed: { images: identity.seed.images } } : {}),
    created: identity.created,
    updated: identity.updated,
  };
}

export function faceView(face: Face, withEmbedding = false) {
  return {
    id: face.id,
    created: face.created,
    source: face.source,
    ...(withEmbedding ? { embedding: Array.from(face.embedding) } : {}),
  };
}
