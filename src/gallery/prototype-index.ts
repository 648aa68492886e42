// One gallery's prototypes in faiss, with protoserve's own id mapping (runs in the faiss worker
// thread). faiss-node has no add_with_ids, and remove_ids on a flat index shifts the labels of
// every later vector (HNSW has no remove at all), so faiss labels here are positions in an
// append-only log: label i is the i-th vector added since the last rebuild. Replacing or
// removing a prototype leaves a tombstone; searches ask faiss for more than k and drop the dead,
// and the index is rebuilt from the live vectors once tombstones pass a quarter of it.
//
// Every faiss call is validated first (dimension, finite values, k in 1..ntotal, trained before
// add): faiss-node's upstream methods abort the process on misuse; the patched ones throw.
import { METRIC_INNER_PRODUCT, type FaissAddon, type FaissIndex } from './faiss-addon.js';
import { GalleryError } from './gallery-error.js';
import { IVF_MIN_PROTOTYPES, type IndexSpec, type SearchHit, type StoreStats } from './gallery-store.js';
import { InvariantError } from '../errors.js';

/** Vectors per faiss add call during a rebuild (bounded temporary memory in the addon). */
const ADD_CHUNK = 65_536;
/** Rebuild when tombstones exceed this share of the index (and MIN_DEAD_FOR_REBUILD). */
const DEAD_SHARE_FOR_REBUILD = 0.25;
const MIN_DEAD_FOR_REBUILD = 1024;
/** IVF: retrain when the gallery has grown this much since the lists were trained. */
const IVF_RETRAIN_GROWTH = 4;
/** IVF training points per list (faiss asks for at least 39; more costs k-means time). */
const IVF_TRAIN_PER_LIST = 64;

/** Largest power of two <= x (x >= 1). */
function floorPow2(x: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, x)));
}

/** Default IVF lists for n prototypes: about sqrt(n) (a power of two), at least 39 points each. */
export function defaultNlist(n: number): number {
  return Math.max(1, Math.min(floorPow2(Math.sqrt(n) * 1.5), floorPow2(n / 39)));
}

/** Default lists searched: 1/32 of them, at least 1. */
export function defaultNprobe(nlist: number): number {
  return Math.max(1, Math.round(nlist / 32));
}

export class PrototypeIndex {
  private index: FaissIndex;
  private descriptor = 'Flat';
  private nlist?: number;
  private nprobe?: number;
  /** Live count when the IVF lists were trained (0: not trained, the index is exact). */
  private trainedAt = 0;
  /** Row `label` holds the vector faiss knows as `label`. */
  private vectors: Float32Array;
  private count = 0;
  private keys: Array<string | null> = [];
  private readonly labels = new Map<string, number>();
  private dead = 0;
  /** Deferred upserts not in faiss yet: the next search or flush rebuilds. */
  private stale = false;

  constructor(
    private readonly faiss: FaissAddon,
    readonly dimension: number,
    readonly spec: IndexSpec,
  ) {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 65_536) {
      throw new GalleryError('INVALID_PARAMETER', `prototype dimension must be an integer from 1 to 65536, got ${dimension}`);
    }
    this.vectors = new Float32Array(dimension * 1024);
    this.index = this.createIndex(0);
  }

  get size(): number {
    return this.labels.size;
  }

  stats(): StoreStats {
    return { size: this.size, dead: this.dead, descriptor: this.descriptor, ...(this.nlist ? { nlist: this.nlist, nprobe: this.nprobe } : {}) };
  }

  upsert(keys: readonly string[], vectors: Float32Array, defer = false): void {
    const d = this.dimension;
    if (vectors.length !== keys.length * d) {
      throw new GalleryError('INVALID_PARAMETER', `${keys.length} keys need ${keys.length * d} values (dimension ${d}), got ${vectors.length}`);
    }
    const seen = new Set<string>();
    for (const key of keys) {
      if (typeof key !== 'string' || key.length === 0) throw new GalleryError('INVALID_PARAMETER', `prototype keys must be non-empty strings, got ${JSON.stringify(key)}`);
      if (seen.has(key)) throw new GalleryError('INVALID_PARAMETER', `prototype key "${key}" appears twice in one upsert`);
      seen.add(key);
    }
    const rows = normalizedRows(vectors, d, 'prototype');
    this.reserve(this.count + keys.length);
    const first = this.count;
    keys.forEach((key, i) => {
      const old = this.labels.get(key);
      if (old !== undefined) {
        this.keys[old] = null;
        this.dead++;
      }
      this.labels.set(key, first + i);
      this.keys.push(key);
    });
    this.vectors.set(rows, first * d);
    this.count += keys.length;
    if (defer || this.stale) {
      this.stale = true;
      return;
    }
    this.add(this.vectors.subarray(first * d, this.count * d));
    this.maintain();
  }

  remove(keys: readonly string[]): void {
    for (const key of keys) {
      const label = this.labels.get(key);
      if (label === undefined) continue;
      this.labels.delete(key);
      this.keys[label] = null;
      this.dead++;
    }
    if (!this.stale) this.maintain();
  }

  get(keys: readonly string[]): Array<Float32Array | undefined> {
    const d = this.dimension;
    return keys.map((key) => {
      const label = this.labels.get(key);
      return label === undefined ? undefined : this.vectors.slice(label * d, (label + 1) * d);
    });
  }

  flush(): void {
    if (this.stale) this.rebuild();
  }

  search(queries: Float32Array, k: number): SearchHit[][] {
    const d = this.dimension;
    if (!Number.isInteger(k) || k < 1) throw new GalleryError('INVALID_PARAMETER', `k must be a positive integer, got ${k}`);
    const q = normalizedRows(queries, d, 'query');
    const n = q.length / d;
    this.flush();
    const live = this.size;
    if (live === 0) return Array.from({ length: n }, () => []);
    const want = Math.min(k, live);
    const ntotal = this.index.ntotal();
    // Tombstones take places in faiss's top list: ask for more, and more again if needed.
    let fetch = Math.min(ntotal, this.dead === 0 ? want : want * 2 + 16);
    for (;;) {
      if (fetch < 1 || fetch > ntotal) throw new InvariantError(`PrototypeIndex: k = ${fetch} outside 1..${ntotal}`);
      const { distances, labels } = this.index.searchFloat32(q, fetch);
      const hits: SearchHit[][] = [];
      // More results help only a row that tombstones crowded out (an IVF search that finds
      // fewer than k in the lists it probes would find no more with a larger k).
      let crowded = false;
      for (let i = 0; i < n; i++) {
        const row: SearchHit[] = [];
        let dropped = false;
        for (let j = 0; j < fetch && row.length < want; j++) {
          const label = labels[i * fetch + j];
          if (label < 0) continue;
          const key = this.keys[label];
          if (key === null || key === undefined) dropped = true;
          else row.push({ key, similarity: Math.max(-1, Math.min(1, distances[i * fetch + j])) });
        }
        if (row.length < want && dropped) crowded = true;
        hits.push(row);
      }
      if (!crowded || fetch === ntotal) return hits;
      fetch = Math.min(ntotal, fetch * 4);
    }
  }

  /** faiss index for the current contents: exact until an IVF gallery is large enough to train. */
  private createIndex(live: number): FaissIndex {
    const d = this.dimension;
    const spec = this.spec;
    this.nlist = undefined;
    this.nprobe = undefined;
    this.trainedAt = 0;
    if (spec.kind === 'hnsw') {
      this.descriptor = `HNSW${spec.m}`;
      const index = this.faiss.Index.fromFactory(d, this.descriptor, METRIC_INNER_PRODUCT);
      index.setParameter('efSearch', spec.efSearch);
      return index;
    }
    if (spec.kind === 'ivf') {
      const nlist = spec.nlist ?? defaultNlist(live);
      if (live >= Math.max(IVF_MIN_PROTOTYPES, 39 * nlist)) {
        this.descriptor = `IVF${nlist},Flat`;
        this.nlist = nlist;
        this.nprobe = Math.min(nlist, spec.nprobe ?? defaultNprobe(nlist));
        return this.faiss.Index.fromFactory(d, this.descriptor, METRIC_INNER_PRODUCT);
      }
    }
    this.descriptor = 'Flat';
    return this.faiss.Index.fromFactory(d, 'Flat', METRIC_INNER_PRODUCT);
  }

  /** Adds rows (already normalized) to faiss, in bounded chunks. */
  private add(rows: Float32Array): void {
    if (rows.length === 0) return;
    if (!this.index.isTrained()) throw new InvariantError('PrototypeIndex: add on an untrained index');
    const step = ADD_CHUNK * this.dimension;
    for (let o = 0; o < rows.length; o += step) this.index.addFloat32(rows.subarray(o, Math.min(rows.length, o + step)));
  }

  /** Rebuilds when tombstones pile up, or an IVF gallery outgrew its lists (or can now train). */
  private maintain(): void {
    const live = this.size;
    const tooDead = this.dead > MIN_DEAD_FOR_REBUILD && this.dead > DEAD_SHARE_FOR_REBUILD * this.count;
    let ivfDue = false;
    if (this.spec.kind === 'ivf') {
      const nlist = this.spec.nlist ?? defaultNlist(live);
      const trainable = live >= Math.max(IVF_MIN_PROTOTYPES, 39 * nlist);
      ivfDue = this.trainedAt === 0 ? trainable : this.spec.nlist === undefined && live >= IVF_RETRAIN_GROWTH * this.trainedAt;
    }
    if (tooDead || ivfDue) this.rebuild();
  }

  /** A new faiss index holding the live vectors only, labels renumbered in their order. */
  private rebuild(): void {
    const d = this.dimension;
    const live = this.size;
    if (this.dead > 0) {
      const vectors = new Float32Array(Math.max(live, 1024) * d);
      const keys: string[] = [];
      for (let label = 0; label < this.count; label++) {
        const key = this.keys[label];
        if (key === null) continue;
        vectors.set(this.vectors.subarray(label * d, (label + 1) * d), keys.length * d);
        this.labels.set(key, keys.length);
        keys.push(key);
      }
      this.vectors = vectors;
      this.keys = keys;
      this.count = keys.length;
      this.dead = 0;
    }
    this.stale = false;
    this.index = this.createIndex(live);
    const rows = this.vectors.subarray(0, live * d);
    if (this.nlist !== undefined) {
      this.index.trainFloat32(trainingSample(rows, d, IVF_TRAIN_PER_LIST * this.nlist));
      this.index.setParameter('nprobe', this.nprobe as number);
      this.trainedAt = live;
    }
    this.add(rows);
  }

  private reserve(rows: number): void {
    const need = rows * this.dimension;
    if (need <= this.vectors.length) return;
    const grown = new Float32Array(Math.max(need, this.vectors.length * 2));
    grown.set(this.vectors.subarray(0, this.count * this.dimension));
    this.vectors = grown;
  }
}

/**
 * Rows of `values` (n x d) scaled to unit length; refuses an empty input, a wrong length, a
 * non-finite value or a zero row (none of which has a direction to compare).
 */
export function normalizedRows(values: Float32Array, d: number, what: string): Float32Array {
  if (!(values instanceof Float32Array)) throw new GalleryError('INVALID_PARAMETER', `${what} vectors must be a Float32Array`);
  if (values.length === 0 || values.length % d !== 0) {
    throw new GalleryError('INVALID_PARAMETER', `${what} vectors: ${values.length} values are not a positive multiple of the dimension ${d}`);
  }
  const out = new Float32Array(values.length);
  for (let o = 0; o < values.length; o += d) {
    let sum = 0;
    for (let j = 0; j < d; j++) {
      const v = values[o + j];
      if (!Number.isFinite(v)) throw new GalleryError('INVALID_PARAMETER', `${what} vector ${o / d} has a non-finite value at ${j}`);
      sum += v * v;
    }
    if (sum === 0) throw new GalleryError('INVALID_PARAMETER', `${what} vector ${o / d} is all zeros`);
    const inv = 1 / Math.sqrt(sum);
    for (let j = 0; j < d; j++) out[o + j] = values[o + j] * inv;
  }
  return out;
}

/** Up to `max` rows spread evenly over `rows` (deterministic, so rebuilds are reproducible). */
function trainingSample(rows: Float32Array, d: number, max: number): Float32Array {
  const n = rows.length / d;
  if (n <= max) return rows;
  const out = new Float32Array(max * d);
  for (let i = 0; i < max; i++) {
    const r = Math.floor((i * n) / max);
    out.set(rows.subarray(r * d, (r + 1) * d), i * d);
  }
  return out;
}
