// Gallery seeds: the trainer's identity -> prototype files (EPL's empirical prototypes, one per
// training identity, in the exported embedder's space), loaded as a new gallery by `protoserve
// gallery import`. The format is the trainer's: src/export/gallery-seed.ts defines, writes and
// reads it (`protoserve export --gallery-seed FILE`: "PSGS" binary, or .json). Here a seed is
// checked before it becomes a gallery: unique, valid identity ids, a count of training images per
// identity, finite non-zero prototypes (re-normalized), and the model it belongs to.
import { readGallerySeed, type GallerySeedHeader } from '../export/gallery-seed.js';
import { messageOf } from '../errors.js';
import { GalleryError } from './gallery-error.js';
import { GalleryState } from './gallery-state.js';
import { checkIdentityId } from './identity.js';
import { normalizedRows } from './prototype-index.js';

export interface GallerySeed {
  header: GallerySeedHeader;
  /** identities.length x dimension, unit rows. */
  prototypes: Float32Array;
}

export function readSeed(path: string): GallerySeed {
  const bad = (what: string): never => {
    throw new GalleryError('GALLERY_FILE_INVALID', `${path}: ${what} (the gallery seed format: src/export/gallery-seed.ts)`);
  };
  let seed: ReturnType<typeof readGallerySeed>;
  try {
    seed = readGallerySeed(path);
  } catch (err) {
    return bad(messageOf(err));
  }
  const h = seed.header as Partial<GallerySeedHeader>;
  if (h.format !== 'protoserve-gallery-seed') bad(`format is ${JSON.stringify(h.format)}, expected "protoserve-gallery-seed"`);
  if (!h.model || typeof h.model.name !== 'string' || !/^[0-9a-f]{64}$/.test(String(h.model.sha256))) bad('model must be {name, sha256}: the embedder the prototypes were computed with');
  const d = h.dimension;
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) bad(`dimension must be a positive integer, got ${JSON.stringify(d)}`);
  const ids = h.identities;
  if (!Array.isArray(ids) || ids.length === 0) return bad('identities must be a non-empty array of names');
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    try {
      checkIdentityId(id);
    } catch (err) {
      bad(`identities[${i}]: ${messageOf(err)}`);
    }
    if (seen.has(id)) bad(`identities[${i}]: duplicate id ${JSON.stringify(id)}`);
    seen.add(id);
  });
  if (!Array.isArray(h.images) || h.images.length !== ids.length || h.images.some((n) => !Number.isInteger(n) || n < 1)) {
    bad(`images must hold one positive count of training images per identity (${ids.length})`);
  }
  if (seed.rows.length !== ids.length * (d as number)) bad(`${seed.rows.length} prototype values for ${ids.length} identities of dimension ${d}`);
  try {
    return { header: seed.header, prototypes: normalizedRows(seed.rows, d as number, 'seed prototype') };
  } catch (err) {
    return bad(messageOf(err));
  }
}

/**
 * A gallery state holding the seed's identities, each with its prototype as seed: it counts for
 * its training images when faces are enrolled later (identity.ts, prototypeOf).
 */
export function seedState(seed: GallerySeed, gallery: string): GalleryState {
  const { identities, images, dimension: d, kind, run } = seed.header;
  const state = new GalleryState(d);
  const now = new Date().toISOString();
  identities.forEach((id, i) => {
    state.apply(
      {
        header: { op: 'identity', id, seq: i + 1, metadata: { seed: { kind, run } }, created: now, updated: now, faces: [], seedImages: images[i] },
        vectors: seed.prototypes.slice(i * d, (i + 1) * d),
      },
      gallery,
    );
  });
  return state;
}
