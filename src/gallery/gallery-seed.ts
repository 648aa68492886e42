// Gallery seeds: identity -> prototype files that a trainer writes (EPL's empirical prototypes,
// the normalized mean embedding of each training identity) and `protoserve gallery import --seed`
// loads as a new gallery. The format is meant to be written from any language in a few lines:
//
//   line 1   one JSON object, then "\n":
//            {"format": "protoserve-gallery-seed", "version": 1,
//             "model": {"name": "<embedder name>", "sha256": "<manifest.sha256 of its model.onnx>"},
//             "dimension": D,
//             "identities": [{"id": "alice", "images": 37, "metadata": {...}}, ...]}
//   then     identities.length x D float32 values, little endian, row-major: row i is the
//            prototype of identities[i] (re-normalized on load).
//
// "images" (optional, default 1) is how many training embeddings a prototype averages: when
// faces are later enrolled into a seeded identity, its prototype becomes the normalized mean of
// images x seed + the enrolled embeddings. "metadata" is optional. Ids are unique.
import { open } from 'node:fs/promises';

import { atomicWriteFile } from '../artifact/atomic-write.js';
import { GalleryError } from './gallery-error.js';
import { GalleryState } from './gallery-state.js';
import { checkIdentityId, checkMetadata, type Metadata } from './identity.js';
import { normalizedRows } from './prototype-index.js';

export const SEED_FORMAT = 'protoserve-gallery-seed';
export const SEED_VERSION = 1;
/** Longest header line read (ids and metadata of a few million identities). */
const MAX_HEADER_BYTES = 1 << 30;

export interface SeedIdentity {
  id: string;
  images?: number;
  metadata?: Metadata;
}

export interface GallerySeed {
  model: { name: string; sha256: string };
  dimension: number;
  identities: SeedIdentity[];
  /** identities.length x dimension, row i for identities[i]. */
  prototypes: Float32Array;
}

/** Writes a seed file (what a trainer calls after computing its class prototypes). */
export async function writeSeed(path: string, seed: GallerySeed): Promise<void> {
  const header = { format: SEED_FORMAT, version: SEED_VERSION, model: seed.model, dimension: seed.dimension, identities: seed.identities };
  checkSeedHeader(header, path);
  if (seed.prototypes.length !== seed.identities.length * seed.dimension) {
    throw new GalleryError('GALLERY_FILE_INVALID', `${path}: ${seed.prototypes.length} prototype values for ${seed.identities.length} identities of dimension ${seed.dimension}`);
  }
  const bytes = Buffer.from(seed.prototypes.buffer, seed.prototypes.byteOffset, seed.prototypes.byteLength);
  await atomicWriteFile(path, Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), bytes]));
}

function checkSeedHeader(value: unknown, path: string): { model: GallerySeed['model']; dimension: number; identities: SeedIdentity[] } {
  const bad = (what: string): never => {
    throw new GalleryError('GALLERY_FILE_INVALID', `${path}: ${what} (see src/gallery/gallery-seed.ts for the seed format)`);
  };
  const h = value as Record<string, unknown> | null;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return bad('the first line is not a JSON object');
  if (h.format !== SEED_FORMAT) bad(`format is ${JSON.stringify(h.format)}, expected "${SEED_FORMAT}"`);
  if (h.version !== SEED_VERSION) bad(`version ${JSON.stringify(h.version)}; this protoserve reads version ${SEED_VERSION}`);
  const model = h.model as Record<string, unknown> | undefined;
  if (!model || typeof model.name !== 'string' || typeof model.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(model.sha256)) {
    bad('model must be {"name", "sha256"}: the embedder the prototypes were computed with');
  }
  const d = h.dimension;
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > 65_536) bad(`dimension must be an integer from 1 to 65536, got ${JSON.stringify(d)}`);
  if (!Array.isArray(h.identities) || h.identities.length === 0) bad('identities must be a non-empty array');
  const seen = new Set<string>();
  (h.identities as unknown[]).forEach((entry, i) => {
    const e = entry as SeedIdentity;
    if (typeof e !== 'object' || e === null) bad(`identities[${i}] is not an object`);
    try {
      checkIdentityId(e.id);
      checkMetadata(e.metadata, `identities[${i}].metadata`);
    } catch (err) {
      bad(`identities[${i}]: ${(err as Error).message}`);
    }
    if (seen.has(e.id)) bad(`identities[${i}]: duplicate id ${JSON.stringify(e.id)}`);
    seen.add(e.id);
    if (e.images !== undefined && (!Number.isInteger(e.images) || e.images < 1)) bad(`identities[${i}].images must be a positive integer, got ${JSON.stringify(e.images)}`);
  });
  return { model: { name: model?.name as string, sha256: model?.sha256 as string }, dimension: d as number, identities: h.identities as SeedIdentity[] };
}

export async function readSeed(path: string): Promise<GallerySeed> {
  const fh = await open(path, 'r').catch((err: Error) => {
    throw new GalleryError('GALLERY_FILE_INVALID', `cannot read seed ${path}: ${err.message}`, { cause: err });
  });
  try {
    const size = (await fh.stat()).size;
    // The header: everything up to the first newline.
    let header = Buffer.alloc(0);
    let newline = -1;
    while (newline < 0) {
      if (header.length >= Math.min(size, MAX_HEADER_BYTES)) throw new GalleryError('GALLERY_FILE_INVALID', `${path}: no newline after the JSON header line`);
      const chunk = Buffer.alloc(Math.min(1 << 20, size - header.length));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, header.length);
      const start = header.length;
      header = Buffer.concat([header, chunk.subarray(0, bytesRead)]);
      const at = chunk.subarray(0, bytesRead).indexOf(0x0a);
      if (at >= 0) newline = start + at;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(header.toString('utf8', 0, newline));
    } catch (err) {
      throw new GalleryError('GALLERY_FILE_INVALID', `${path}: the first line is not JSON (${(err as Error).message})`);
    }
    const h = checkSeedHeader(parsed, path);
    const expected = h.identities.length * h.dimension * 4;
    if (size - newline - 1 !== expected) {
      throw new GalleryError('GALLERY_FILE_INVALID', `${path}: ${size - newline - 1} bytes of prototypes after the header; ${h.identities.length} identities x ${h.dimension} float32 need ${expected}`);
    }
    const prototypes = new Float32Array(h.identities.length * h.dimension);
    const bytes = new Uint8Array(prototypes.buffer);
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await fh.read(bytes, done, Math.min(bytes.length - done, 64 << 20), newline + 1 + done);
      if (bytesRead === 0) throw new GalleryError('GALLERY_FILE_INVALID', `${path}: ended early`);
      done += bytesRead;
    }
    try {
      return { ...h, prototypes: normalizedRows(prototypes, h.dimension, 'seed prototype') };
    } catch (err) {
      throw new GalleryError('GALLERY_FILE_INVALID', `${path}: ${(err as Error).message}`);
    }
  } finally {
    await fh.close();
  }
}

/** A gallery state holding the seed's identities, each with its prototype as seed. */
export function seedState(seed: GallerySeed, gallery: string): GalleryState {
  const state = new GalleryState(seed.dimension);
  const now = new Date().toISOString();
  const d = seed.dimension;
  seed.identities.forEach((e, i) => {
    state.apply(
      {
        header: { op: 'identity', id: e.id, seq: i + 1, metadata: e.metadata ?? {}, created: now, updated: now, faces: [], seedImages: e.images ?? 1 },
        vectors: seed.prototypes.slice(i * d, (i + 1) * d),
      },
      gallery,
    );
  });
  return state;
}
