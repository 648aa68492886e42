// The prototype index of a gallery: unit-length prototypes under string keys (identity ids),
// searched by inner product (= cosine similarity). FaissStore (faiss-store.ts) is the
// implementation; this file is the contract the gallery core and the benchmark use, and the
// index kinds a gallery can choose.
import { GalleryError } from './gallery-error.js';

/**
 * exact: every prototype is compared (faiss "Flat", inner product), the default.
 * ivf: inverted lists (faiss "IVF<nlist>,Flat"), `nprobe` lists searched per query; the gallery
 *   searches exactly until it holds IVF_MIN_PROTOTYPES prototypes (and 39 per list), then trains
 *   on them; nlist and nprobe default to values that grow with the gallery (prototype-index.ts).
 * hnsw: a navigable small-world graph (faiss "HNSW<m>"), `efSearch` candidates per query.
 */
export type IndexSpec =
  | { kind: 'exact' }
  | { kind: 'ivf'; nlist?: number; nprobe?: number }
  | { kind: 'hnsw'; m: number; efSearch: number };

export const INDEX_KINDS = ['exact', 'ivf', 'hnsw'] as const;
export const DEFAULT_HNSW = { m: 32, efSearch: 64 } as const;
/** Below this many prototypes an IVF gallery searches exactly (too few to train its lists). */
export const IVF_MIN_PROTOTYPES = 10_000;

export interface SearchHit {
  key: string;
  /** Inner product of the unit query and the unit prototype: the cosine similarity. */
  similarity: number;
}

export interface StoreStats {
  /** Live prototypes. */
  size: number;
  /** Replaced or removed prototypes still in the faiss index until the next compaction. */
  dead: number;
  /** The faiss factory string of the index that answers searches now. */
  descriptor: string;
  /** ivf: lists and lists searched, once trained. */
  nlist?: number;
  nprobe?: number;
}

export interface UpsertOptions {
  /**
   * Bulk loading: record the prototypes but build the faiss index once, at the next search or
   * flush(), instead of after every call.
   */
  defer?: boolean;
}

export interface GalleryStore {
  readonly dimension: number;
  readonly spec: IndexSpec;
  /** Adds or replaces the prototypes of `keys` (rows of `vectors`, normalized by the store). */
  upsert(keys: readonly string[], vectors: Float32Array, options?: UpsertOptions): Promise<void>;
  /** Removes the prototypes of `keys`; unknown keys are ignored. */
  remove(keys: readonly string[]): Promise<void>;
  /** Top-k (k >= 1) prototypes per query row, best first; fewer when the gallery is smaller. */
  search(queries: Float32Array, k: number): Promise<SearchHit[][]>;
  /** The stored prototypes of `keys` (undefined where absent). */
  get(keys: readonly string[]): Promise<Array<Float32Array | undefined>>;
  /** Builds what deferred upserts left unbuilt. */
  flush(): Promise<void>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}

/**
 * An index spec from a request or the CLI: "exact" | "ivf" | "hnsw", or an object
 * {kind, nlist?, nprobe?} / {kind, m?, efSearch?}. Throws INVALID_PARAMETER naming the problem.
 */
export function parseIndexSpec(value: unknown): IndexSpec {
  const spec = typeof value === 'string' ? { kind: value } : value;
  const bad = (message: string): never => {
    throw new GalleryError('INVALID_PARAMETER', `index: ${message}`);
  };
  if (spec === undefined || spec === null) return { kind: 'exact' };
  if (typeof spec !== 'object' || Array.isArray(spec)) return bad(`expected "exact", "ivf", "hnsw" or an object {kind, ...}, got ${JSON.stringify(value)}`);
  const s = spec as Record<string, unknown>;
  const int = (name: string, min: number, max: number): number | undefined => {
    const v = s[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const allowed = (keys: string[]) => {
    for (const k of Object.keys(s)) if (!keys.includes(k)) bad(`unknown field "${k}" for kind "${String(s.kind)}" (known: ${keys.join(', ')})`);
  };
  switch (s.kind) {
    case 'exact':
      allowed(['kind']);
      return { kind: 'exact' };
    case 'ivf': {
      allowed(['kind', 'nlist', 'nprobe']);
      const nlist = int('nlist', 1, 65536);
      const nprobe = int('nprobe', 1, 65536);
      if (nlist !== undefined && nprobe !== undefined && nprobe > nlist) bad(`nprobe (${nprobe}) cannot exceed nlist (${nlist})`);
      return { kind: 'ivf', ...(nlist !== undefined ? { nlist } : {}), ...(nprobe !== undefined ? { nprobe } : {}) };
    }
    case 'hnsw':
      allowed(['kind', 'm', 'efSearch']);
      return { kind: 'hnsw', m: int('m', 4, 128) ?? DEFAULT_HNSW.m, efSearch: int('efSearch', 1, 1 << 16) ?? DEFAULT_HNSW.efSearch };
    default:
      return bad(`kind must be one of ${INDEX_KINDS.join(', ')}, got ${JSON.stringify(s.kind)}`);
  }
}
