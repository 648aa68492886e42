// One persistent gallery: its identities and faces (GalleryState), their prototypes in a
// GalleryStore, and its files, which survive a kill at any moment:
//
//   <dir>/gallery.json        the gallery's name, model (name, version, sha256, dimension), index
//   <dir>/snapshot-<g>.snap   every identity as of the start of log-<g> (record-file.ts frames)
//   <dir>/log-<g>.wal         every change since, appended and fdatasync'ed before it is answered
//
// A change is checked and applied in memory, its record appended to the log, and the request
// answered once the log is on disk (appends that meet are synced together). When the log passes
// `checkpointBytes`, a new log starts and a snapshot of the state at that instant is written
// beside it (temporary name, fsync, rename); only then are the older files removed. Opening
// takes the newest complete snapshot and replays every log from its generation on; a record cut
// short by a crash was never answered, and is cut off.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { atomicWriteFile, fsyncDir } from '../artifact/atomic-write.js';
import { hasCode, InvariantError, messageOf } from '../errors.js';
import { FaissStore } from './faiss-store.js';
import { GalleryError } from './gallery-error.js';
import { GalleryState, type Page } from './gallery-state.js';
import { parseIndexSpec, type GalleryStore, type IndexSpec } from './gallery-store.js';
import { checkIdentityId, checkMetadata, mergeMetadata, prototypeOf, type Face, type FaceSource, type Identity, type Metadata } from './identity.js';
import { readRecords, RecordLog, writeRecordFile, type GalleryRecord } from './record-file.js';

export const GALLERY_FILE = 'gallery.json';
export const GALLERY_FORMAT = 'protoserve-gallery';
export const GALLERY_FORMAT_VERSION = 1;
/** Gallery names are folder names and URL segments. */
export const GALLERY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const DEFAULT_CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Prototypes sent to the store per message when a gallery is loaded. */
const LOAD_CHUNK = 16_384;

/** The embedder a gallery was built with: only its embeddings are comparable with the gallery's. */
export interface GalleryModel {
  name: string;
  version: string;
  sha256: string;
  dimension: number;
}

export interface GalleryMeta {
  format: typeof GALLERY_FORMAT;
  version: typeof GALLERY_FORMAT_VERSION;
  name: string;
  model: GalleryModel;
  index: IndexSpec;
  created: string;
  metadata: Metadata;
}

export interface GalleryOptions {
  /** Log size that starts a new snapshot (default 64 MiB). */
  checkpointBytes?: number;
  /** The prototype index (default: FaissStore). */
  openStore?: (dimension: number, spec: IndexSpec) => Promise<GalleryStore>;
  /** Warnings (a cut torn record, leftover files). */
  warn?: (line: string) => void;
}

export interface NewFace {
  embedding: Float32Array;
  source: FaceSource;
}

export interface Match {
  identity: Identity;
  similarity: number;
}

export function checkGalleryName(name: unknown): string {
  if (typeof name !== 'string' || !GALLERY_NAME_PATTERN.test(name)) {
    throw new GalleryError('INVALID_PARAMETER', `gallery name must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit; got ${JSON.stringify(name)}`);
  }
  return name;
}

const snapshotFile = (g: number) => `snapshot-${g}.snap`;
const logFile = (g: number) => `log-${g}.wal`;

/** The records of a snapshot or export: a header with the meta, every identity, an end mark. */
export function* snapshotRecords(meta: GalleryMeta, state: GalleryState): Generator<GalleryRecord> {
  yield { header: { op: 'snapshot', meta, nextSeq: state.nextSeq, identities: state.identities.size } };
  yield* state.records();
  yield { header: { op: 'end', identities: state.identities.size } };
}

/**
 * Reads a snapshot or export file into a fresh state; undefined when it is incomplete (no end
 * mark: a crash while it was written). Records must be of `dimension` if given.
 */
export async function readSnapshot(path: string, name: string): Promise<{ meta: GalleryMeta; state: GalleryState } | undefined> {
  let meta: GalleryMeta | undefined;
  let state: GalleryState | undefined;
  let ended = false;
  let declared = -1;
  await readRecords(path, (record) => {
    const h = record.header;
    if (!meta) {
      if (h.op !== 'snapshot') throw new GalleryError('GALLERY_FILE_INVALID', `${path} does not start with a snapshot record (got "${h.op}")`);
      meta = checkMeta(h.meta, path);
      state = new GalleryState(meta.model.dimension);
      declared = h.identities as number;
      return;
    }
    if (h.op === 'end') {
      ended = true;
      return;
    }
    if (ended) throw new GalleryError('GALLERY_FILE_INVALID', `${path}: records after the end mark`);
    (state as GalleryState).apply(record, name);
  });
  if (!meta || !state || !ended) return undefined;
  if (state.identities.size !== declared) throw new GalleryError('GALLERY_FILE_INVALID', `${path}: ${state.identities.size} identities, the header says ${declared}`);
  return { meta, state };
}

/** Validates gallery.json (or a snapshot's meta). */
export function checkMeta(value: unknown, where: string): GalleryMeta {
  const m = value as Partial<GalleryMeta> | null;
  const bad = (what: string): never => {
    throw new GalleryError('GALLERY_CORRUPT', `${where}: ${what}`);
  };
  if (typeof m !== 'object' || m === null) return bad('not a JSON object');
  if (m.format !== GALLERY_FORMAT) bad(`format is ${JSON.stringify(m.format)}, not "${GALLERY_FORMAT}"`);
  if (m.version !== GALLERY_FORMAT_VERSION) bad(`version ${JSON.stringify(m.version)}; this protoserve reads version ${GALLERY_FORMAT_VERSION}`);
  const model = m.model;
  if (!model || typeof model.name !== 'string' || typeof model.version !== 'string' || !/^[0-9a-f]{64}$/.test(String(model.sha256)) || !Number.isInteger(model.dimension) || model.dimension < 1) {
    bad('model must be {name, version, sha256, dimension}');
  }
  try {
    checkGalleryName(m.name);
    parseIndexSpec(m.index);
  } catch (err) {
    bad(messageOf(err));
  }
  return m as GalleryMeta;
}

export class Gallery {
  private broken?: Error;
  private closed = false;
  private checkpointing?: Promise<void>;
  private readonly checkpointBytes: number;
  private readonly warn: (line: string) => void;

  private constructor(
    readonly dir: string,
    readonly meta: GalleryMeta,
    private readonly store: GalleryStore,
    private readonly state: GalleryState,
    private log: RecordLog,
    private generation: number,
    options: GalleryOptions,
  ) {
    this.checkpointBytes = options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES;
    this.warn = options.warn ?? ((line) => console.error(line));
  }

  get name(): string {
    return this.meta.name;
  }

  get identityCount(): number {
    return this.state.identities.size;
  }

  get faceCount(): number {
    return this.state.faceCount;
  }

  /**
   * Creates the gallery folder `dir` with its meta (and, for imports, an initial snapshot of
   * `initial`'s identities) under a temporary name, then renames it into place: a crash leaves
   * either no gallery or a whole one. GALLERY_EXISTS when `dir` exists.
   */
  static async create(dir: string, meta: GalleryMeta, options: GalleryOptions = {}, initial?: GalleryState): Promise<Gallery> {
    checkMeta(meta, 'new gallery');
    if (initial && initial.dimension !== meta.model.dimension) {
      throw new GalleryError('MODEL_MISMATCH', `gallery "${meta.name}": identities of dimension ${initial.dimension} for model ${meta.model.name} of dimension ${meta.model.dimension}`);
    }
    // The store first: a server without faiss refuses before anything is written.
    const store = await (options.openStore ?? FaissStore.open)(meta.model.dimension, meta.index);
    const parent = dirname(dir);
    const temp = join(parent, `.${basename(dir)}.creating-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(parent, { recursive: true });
      await mkdir(temp);
      await atomicWriteFile(join(temp, GALLERY_FILE), `${JSON.stringify(meta, null, 2)}\n`);
      const generation = initial ? 1 : 0;
      if (initial) await writeRecordFile(join(temp, snapshotFile(1)), snapshotRecords(meta, initial));
      await (await RecordLog.create(join(temp, logFile(generation)))).close();
      try {
        await rename(temp, dir);
      } catch (err) {
        if (hasCode(err) && (err.code === 'EEXIST' || err.code === 'ENOTEMPTY')) throw new GalleryError('GALLERY_EXISTS', `Gallery "${meta.name}" already exists`);
        throw err;
      }
      await fsyncDir(dir);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      await store.close();
      throw err;
    }
    return Gallery.open(dir, { ...options, openStore: async () => store });
  }

  static async open(dir: string, options: GalleryOptions = {}): Promise<Gallery> {
    const warn = options.warn ?? ((line: string) => console.error(line));
    let metaText: string;
    try {
      metaText = await readFile(join(dir, GALLERY_FILE), 'utf8');
    } catch (err) {
      throw new GalleryError('GALLERY_CORRUPT', `${dir} has no readable ${GALLERY_FILE}: ${messageOf(err)}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(metaText);
    } catch (err) {
      throw new GalleryError('GALLERY_CORRUPT', `${join(dir, GALLERY_FILE)} is not JSON: ${messageOf(err)}`);
    }
    const meta = checkMeta(parsed, join(dir, GALLERY_FILE));
    const name = meta.name;
    const files = await readdir(dir);
    const gens = (re: RegExp) => files.map((f) => re.exec(f)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
    const snapshots = gens(/^snapshot-(\d+)\.snap$/);
    const logs = gens(/^log-(\d+)\.wal$/);

    // The newest complete snapshot (an incomplete one is a crash during its writing).
    let state = new GalleryState(meta.model.dimension);
    let base = 0;
    for (const g of [...snapshots].reverse()) {
      const snap = await readSnapshot(join(dir, snapshotFile(g)), name);
      if (!snap) {
        warn(`gallery ${name}: ${snapshotFile(g)} is incomplete (written when the process stopped); using an older state`);
        continue;
      }
      state = snap.state;
      base = g;
      break;
    }
    // Every log from the snapshot's generation on, in order; the last one stays open for appends.
    const replay = logs.filter((g) => g >= base);
    let active: { gen: number; validBytes: number } | undefined;
    for (const g of replay) {
      const path = join(dir, logFile(g));
      const result = await readRecords(path, (record) => state.apply(record, name));
      if (result.validBytes !== result.fileBytes) {
        warn(`gallery ${name}: ${logFile(g)}: cut ${result.fileBytes - result.validBytes} bytes of a record written when the process stopped (never acknowledged)`);
      }
      active = { gen: g, validBytes: result.validBytes };
    }
    const log = active ? await RecordLog.openAt(join(dir, logFile(active.gen)), active.validBytes) : await RecordLog.create(join(dir, logFile(base)));
    const generation = active?.gen ?? base;
    // Leftovers of interrupted checkpoints.
    for (const f of files) {
      const m = /^(snapshot|log)-(\d+)\.(snap|wal)$/.exec(f);
      const stale = (m && ((m[1] === 'snapshot' && Number(m[2]) !== base) || (m[1] === 'log' && Number(m[2]) < base))) || f.endsWith('.tmp');
      if (stale) await rm(join(dir, f), { force: true });
    }

    let store: GalleryStore | undefined;
    try {
      store = await (options.openStore ?? FaissStore.open)(meta.model.dimension, meta.index);
      await loadPrototypes(store, state);
    } catch (err) {
      await log.close();
      await store?.close();
      throw err;
    }
    return new Gallery(dir, meta, store, state, log, generation, options);
  }

  has(id: string): boolean {
    return this.state.identities.has(id);
  }

  identity(id: string): Identity {
    this.usable();
    return this.state.get(id, this.name);
  }

  page(limit: number, after?: string): Page {
    this.usable();
    return this.state.page(limit, after);
  }

  async createIdentity(id: string, metadata?: unknown): Promise<Identity> {
    const now = new Date().toISOString();
    await this.change({ header: { op: 'identity.create', id: checkIdentityId(id), seq: this.state.nextSeq, metadata: checkMetadata(metadata), created: now } });
    return this.state.get(id, this.name);
  }

  /** Merges `patch` into the identity's metadata (JSON Merge Patch: null removes a key). */
  async updateIdentity(id: string, patch: unknown): Promise<Identity> {
    const identity = this.identity(id);
    const metadata = checkMetadata(mergeMetadata(identity.metadata, checkMetadata(patch, 'metadata patch')));
    await this.change({ header: { op: 'identity.update', id, metadata, updated: new Date().toISOString() } });
    return this.state.get(id, this.name);
  }

  async deleteIdentity(id: string): Promise<void> {
    this.identity(id);
    await this.change({ header: { op: 'identity.delete', id } });
  }

  /** Enrolls faces (embeddings of this gallery's model) into an identity, all or none. */
  async addFaces(id: string, faces: readonly NewFace[]): Promise<Face[]> {
    const identity = this.identity(id);
    const d = this.meta.model.dimension;
    if (faces.length === 0) throw new GalleryError('INVALID_PARAMETER', 'no faces to enroll');
    const vectors = new Float32Array(faces.length * d);
    faces.forEach((f, i) => {
      if (f.embedding.length !== d) throw new GalleryError('MODEL_MISMATCH', `an embedding of ${f.embedding.length} values cannot join gallery "${this.name}" (dimension ${d})`);
      vectors.set(f.embedding, i * d);
    });
    const created = new Date().toISOString();
    const entries = faces.map((f) => ({ id: randomUUID(), created, source: f.source }));
    await this.change({ header: { op: 'faces.add', id: identity.id, faces: entries, updated: created }, vectors });
    const ids = new Set<string>(entries.map((e) => e.id));
    return this.state.get(id, this.name).faces.filter((f) => ids.has(f.id));
  }

  async deleteFace(id: string, faceId: string): Promise<void> {
    this.identity(id);
    await this.change({ header: { op: 'face.delete', id, face: faceId, updated: new Date().toISOString() } });
  }

  /** Top-k identities per query embedding (rows of `queries`), best first. */
  async search(queries: Float32Array, k: number): Promise<Match[][]> {
    this.usable();
    const hits = await this.store.search(queries, k);
    return hits.map((row) =>
      row.flatMap((hit) => {
        const identity = this.state.identities.get(hit.key);
        return identity ? [{ identity, similarity: hit.similarity }] : [];
      }),
    );
  }

  /** The identity's prototype (normalized mean of its embeddings); undefined when it has none. */
  prototype(id: string): Float32Array | undefined {
    return prototypeOf(this.identity(id), this.meta.model.dimension);
  }

  async storeStats() {
    this.usable();
    return this.store.stats();
  }

  /** Writes every identity, with its faces' embeddings, to `path` (an importable snapshot). */
  async exportTo(path: string): Promise<number> {
    this.usable();
    return writeRecordFile(path, snapshotRecords(this.meta, this.state.capture()));
  }

  /** Starts a new log and writes a snapshot of the state at that instant; removes older files. */
  async checkpoint(): Promise<void> {
    while (this.checkpointing) await this.checkpointing;
    this.checkpointing = this.writeCheckpoint().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  private async writeCheckpoint(): Promise<void> {
    this.usable();
    const gen = this.generation + 1;
    const next = await RecordLog.create(join(this.dir, logFile(gen)));
    const old = this.log;
    this.log = next;
    this.generation = gen;
    const state = this.state.capture();
    await old.close();
    await writeRecordFile(join(this.dir, snapshotFile(gen)), snapshotRecords(this.meta, state));
    for (const f of await readdir(this.dir)) {
      const m = /^(?:snapshot|log)-(\d+)\.(?:snap|wal)$/.exec(f);
      if (m && Number(m[1]) < gen) await rm(join(this.dir, f), { force: true });
    }
    await fsyncDir(join(this.dir, GALLERY_FILE));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.checkpointing?.catch(() => undefined);
    await this.log.close().catch(() => undefined);
    await this.store.close();
  }

  /** Applies a record (throws, changing nothing, if it does not apply), logs it, indexes it. */
  private async change(record: GalleryRecord): Promise<void> {
    this.usable();
    const effect = this.state.apply(record, this.name);
    const durable = this.log.append([record]);
    const indexed = this.index(effect.changed, effect.removed);
    if (this.log.size >= this.checkpointBytes && !this.checkpointing) {
      this.checkpoint().catch((err) => this.warn(`gallery ${this.name}: checkpoint failed: ${messageOf(this.fail(err))}`));
    }
    try {
      await Promise.all([durable, indexed]);
    } catch (err) {
      throw this.fail(err);
    }
  }

  private index(changed: string[], removed: string[]): Promise<void> {
    const d = this.meta.model.dimension;
    const upsertKeys: string[] = [];
    const rows: Float32Array[] = [];
    const gone = [...removed];
    for (const id of changed) {
      const proto = prototypeOf(this.state.get(id, this.name), d);
      if (proto) {
        upsertKeys.push(id);
        rows.push(proto);
      } else gone.push(id);
    }
    const jobs: Promise<void>[] = [];
    if (upsertKeys.length > 0) {
      const vectors = new Float32Array(rows.length * d);
      rows.forEach((r, i) => vectors.set(r, i * d));
      jobs.push(this.store.upsert(upsertKeys, vectors));
    }
    if (gone.length > 0) jobs.push(this.store.remove(gone));
    return Promise.all(jobs).then(() => undefined);
  }

  /** After a failed write, memory and disk may differ: refuse everything until a restart. */
  private fail(err: unknown): GalleryError {
    this.broken ??= err instanceof Error ? err : new InvariantError(String(err));
    return this.unavailable();
  }

  private unavailable(): GalleryError {
    return new GalleryError(
      'GALLERY_UNAVAILABLE',
      `Gallery "${this.name}" stopped accepting requests after a storage failure (${messageOf(this.broken)}); restart the server to recover it from its log`,
    );
  }

  private usable(): void {
    if (this.closed) throw new GalleryError('GALLERY_NOT_FOUND', `Gallery "${this.name}" was closed or deleted`);
    if (this.broken) throw this.unavailable();
  }
}

/** Puts every identity's prototype into a new store, building the index once at the end. */
async function loadPrototypes(store: GalleryStore, state: GalleryState): Promise<void> {
  const d = state.dimension;
  let keys: string[] = [];
  let vectors = new Float32Array(LOAD_CHUNK * d);
  const send = async () => {
    if (keys.length === 0) return;
    await store.upsert(keys, vectors.subarray(0, keys.length * d), { defer: true });
    keys = [];
  };
  for (const identity of state.identities.values()) {
    const proto = prototypeOf(identity, d);
    if (!proto) continue;
    vectors.set(proto, keys.length * d);
    keys.push(identity.id);
    if (keys.length === LOAD_CHUNK) {
      await send();
      vectors = new Float32Array(LOAD_CHUNK * d);
    }
  }
  await send();
  await store.flush();
}
