// A gallery seed: the training identities' prototypes in an exported embedder's space (EPL's
// empirical prototypes; hat(W) for a margin head without EPL), for loading into a prototype
// gallery as one enrolled template per identity. Written by `protoserve export --gallery-seed`.
//
// Binary form (any file name but *.json), little-endian, the layout of training checkpoints:
//   bytes 0-3   "PSGS"
//   bytes 4-7   uint32 format version (1)
//   bytes 8-11  uint32 n, the length of the JSON header in bytes
//   12..12+n    the header, UTF-8 JSON (GallerySeedHeader)
//   zero bytes up to a multiple of 4
//   float32 rows: identities.length x dimension, row i = identities[i]'s prototype, unit length
// JSON form (a file name ending in .json; small sets): the header's fields plus
//   "prototypes": [[...], ...], one array of `dimension` numbers per identity.
// Both are written atomically.
import { readFileSync } from 'node:fs';
import { atomicWriteFile } from '../artifact/atomic-write.js';
import { ProtoserveError } from '../errors.js';

export const GALLERY_SEED_MAGIC = 'PSGS';
export const GALLERY_SEED_VERSION = 1;

export interface GallerySeedHeader {
  format: 'protoserve-gallery-seed';
  version: number;
  /** The artifact whose embeddings the prototypes live among. */
  model: { name: string; sha256: string };
  dimension: number;
  /** Identity names, one per row, in row order. */
  identities: string[];
  /** 'empirical': EPL's empirical prototypes; 'learned': a margin head's normalized class weights. */
  kind: 'empirical' | 'learned';
  /** Training images behind each identity's prototype, in row order. */
  images: number[];
  /** The training run they came from. */
  run: string;
}

export class GallerySeedError extends ProtoserveError {
  constructor(message: string) {
    super('GALLERY_SEED_INVALID', message);
  }
}

export async function writeGallerySeed(path: string, header: GallerySeedHeader, rows: Float32Array): Promise<void> {
  if (rows.length !== header.identities.length * header.dimension) {
    throw new GallerySeedError(`${rows.length} values for ${header.identities.length} identities of dimension ${header.dimension}`);
  }
  if (path.endsWith('.json')) {
    const prototypes = header.identities.map((_, i) => Array.from(rows.subarray(i * header.dimension, (i + 1) * header.dimension)));
    await atomicWriteFile(path, `${JSON.stringify({ ...header, prototypes })}\n`);
    return;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (4 - ((12 + json.length) % 4)) % 4;
  const prefix = Buffer.alloc(12);
  prefix.write(GALLERY_SEED_MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(GALLERY_SEED_VERSION, 4);
  prefix.writeUInt32LE(json.length, 8);
  const body = Buffer.alloc(rows.length * 4);
  for (let i = 0; i < rows.length; i++) body.writeFloatLE(rows[i], 4 * i);
  await atomicWriteFile(path, Buffer.concat([prefix, json, Buffer.alloc(pad), body]));
}

/** Reads either form back. */
export function readGallerySeed(path: string): { header: GallerySeedHeader; rows: Float32Array } {
  const bytes = readFileSync(path);
  if (path.endsWith('.json')) {
    const { prototypes, ...header } = JSON.parse(bytes.toString('utf8')) as GallerySeedHeader & { prototypes: number[][] };
    return { header, rows: Float32Array.from(prototypes.flat()) };
  }
  if (bytes.length < 12 || bytes.toString('ascii', 0, 4) !== GALLERY_SEED_MAGIC) throw new GallerySeedError(`${path}: not a gallery seed (no ${GALLERY_SEED_MAGIC} magic)`);
  const version = bytes.readUInt32LE(4);
  if (version !== GALLERY_SEED_VERSION) throw new GallerySeedError(`${path}: gallery seed version ${version}, this reader knows ${GALLERY_SEED_VERSION}`);
  const length = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.toString('utf8', 12, 12 + length)) as GallerySeedHeader;
  const start = 12 + length + ((4 - ((12 + length) % 4)) % 4);
  const count = header.identities.length * header.dimension;
  if (bytes.length !== start + 4 * count) throw new GallerySeedError(`${path}: ${bytes.length - start} bytes of rows, expected ${4 * count}`);
  const rows = new Float32Array(count);
  for (let i = 0; i < count; i++) rows[i] = bytes.readFloatLE(start + 4 * i);
  return { header, rows };
}
