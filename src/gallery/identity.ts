// An identity of a gallery: its metadata, its enrolled faces (each with the embedding the
// gallery's model gave it), an optional seed prototype from the trainer, and the prototype
// searched for it: EPL's empirical prototype, the normalized mean of its embeddings.
import { GalleryError } from './gallery-error.js';

export type Metadata = Record<string, unknown>;

export interface Face {
  id: string;
  /** ISO date of enrolment. */
  created: string;
  /** Unit-length embedding, as the gallery's model computed it. */
  embedding: Float32Array;
  /** Where it came from: the image's sha256, its index in the request, landmarks if given. */
  source: FaceSource;
}

export interface FaceSource {
  sha256: string;
  image: number;
  face: number;
  landmarks?: number[];
}

/** A prototype from a gallery seed: the mean of `images` training embeddings of the identity. */
export interface Seed {
  vector: Float32Array;
  images: number;
}

export interface Identity {
  id: string;
  /** Creation order (identity listings are paginated in it). */
  seq: number;
  metadata: Metadata;
  created: string;
  updated: string;
  faces: Face[];
  seed?: Seed;
}

/** Identity ids: any text but control characters, 1 to 256 characters. */
export function checkIdentityId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /[\u0000-\u001f\u007f]/.test(id)) {
    throw new GalleryError('INVALID_PARAMETER', `identity id must be 1 to 256 characters without control characters, got ${JSON.stringify(id)}`);
  }
  return id;
}

export const MAX_METADATA_BYTES = 16 * 1024;
/** Nesting levels metadata may have (deeper JSON would overflow the stack of JSON.stringify). */
export const MAX_METADATA_DEPTH = 32;

/**
 * Walks metadata without recursion: refuses nesting deeper than MAX_METADATA_DEPTH and numbers
 * JSON cannot keep (1e999 parses to Infinity, which would be stored as null: lost data).
 */
function checkValues(value: object, what: string): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v === 'number' && !Number.isFinite(v)) throw new GalleryError('INVALID_PARAMETER', `${what} holds ${v}, which JSON cannot keep; send finite numbers`);
    if (typeof v !== 'object' || v === null) continue;
    if (depth > MAX_METADATA_DEPTH) throw new GalleryError('INVALID_PARAMETER', `${what} is nested more than ${MAX_METADATA_DEPTH} levels deep`);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
}

/** Metadata: a JSON object of at most MAX_METADATA_BYTES. */
export function checkMetadata(value: unknown, what = 'metadata'): Metadata {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GalleryError('INVALID_PARAMETER', `${what} must be a JSON object, got ${JSON.stringify(value)?.slice(0, 60)}`);
  }
  checkValues(value, what);
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_METADATA_BYTES) throw new GalleryError('INVALID_PARAMETER', `${what} is ${bytes} bytes of JSON; at most ${MAX_METADATA_BYTES}`);
  return value as Metadata;
}

/**
 * JSON Merge Patch (RFC 7396) of metadata: keys set to null are removed, objects merge
 * recursively, anything else replaces.
 */
export function mergeMetadata(target: Metadata, patch: Metadata): Metadata {
  const out: Metadata = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (typeof value === 'object' && !Array.isArray(value) && typeof out[key] === 'object' && out[key] !== null && !Array.isArray(out[key])) {
      out[key] = mergeMetadata(out[key] as Metadata, value as Metadata);
    } else out[key] = value;
  }
  return out;
}

/**
 * The identity's prototype: normalize(images x seed + sum of face embeddings), i.e. the
 * normalized mean over every embedding it stands for (the seed counts for the training images
 * it averages). Undefined for an identity with neither faces nor seed.
 */
export function prototypeOf(identity: Pick<Identity, 'faces' | 'seed'>, dimension: number): Float32Array | undefined {
  if (identity.faces.length === 0 && !identity.seed) return undefined;
  const sum = new Float64Array(dimension);
  if (identity.seed) for (let j = 0; j < dimension; j++) sum[j] += identity.seed.images * identity.seed.vector[j];
  for (const face of identity.faces) for (let j = 0; j < dimension; j++) sum[j] += face.embedding[j];
  let norm = 0;
  for (let j = 0; j < dimension; j++) norm += sum[j] * sum[j];
  norm = Math.sqrt(norm);
  // Embeddings that cancel out exactly have no mean direction: nothing to search for.
  if (!(norm > 0)) return undefined;
  return Float32Array.from(sum, (v) => v / norm);
}
