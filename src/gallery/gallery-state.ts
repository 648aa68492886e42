// A gallery's identities and faces in memory, changed only by records: the same apply() runs
// for a live request (before its record is logged) and when a log or snapshot is replayed, so
// what a restart rebuilds is exactly what was acknowledged. apply() checks everything before it
// changes anything: a record that fails leaves the state as it was.
import { GalleryError } from './gallery-error.js';
import type { GalleryRecord } from './record-file.js';
import type { Face, FaceSource, Identity, Metadata } from './identity.js';

/** A face as records carry it (the embedding travels in the record's vectors). */
export interface FaceEntry {
  id: string;
  created: string;
  source: FaceSource;
}

/** What a record changed in the searchable prototypes. */
export interface Effect {
  /** Identities whose prototype must be recomputed (upserted, or removed when they have none). */
  changed: string[];
  /** Identities gone. */
  removed: string[];
}

export interface Page {
  identities: Identity[];
  /** Cursor for the next page, when there is one. */
  next?: string;
}

export class GalleryState {
  readonly identities = new Map<string, Identity>();
  /** Identities by seq, with deleted ones until the next compaction. */
  private order: Identity[] = [];
  private removedInOrder = 0;
  nextSeq = 1;
  faceCount = 0;

  constructor(readonly dimension: number) {}

  get(id: string, gallery: string): Identity {
    const identity = this.identities.get(id);
    if (!identity) throw new GalleryError('IDENTITY_NOT_FOUND', `Identity ${JSON.stringify(id)} not found in gallery "${gallery}"`);
    return identity;
  }

  /** Identities in creation order, `limit` of them after the cursor. */
  page(limit: number, after?: string): Page {
    let start = 0;
    if (after !== undefined) {
      const seq = /^\d{1,15}$/.test(after) ? Number(after) : NaN;
      if (!Number.isFinite(seq)) throw new GalleryError('INVALID_PARAMETER', `cursor: expected the "next" value of a previous page, got ${JSON.stringify(after)}`);
      let lo = 0;
      let hi = this.order.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.order[mid].seq <= seq) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const identities: Identity[] = [];
    let i = start;
    for (; i < this.order.length && identities.length < limit; i++) {
      const identity = this.order[i];
      if (this.identities.get(identity.id) === identity) identities.push(identity);
    }
    let more = false;
    for (let j = i; j < this.order.length && !more; j++) more = this.identities.get(this.order[j].id) === this.order[j];
    return { identities, ...(more && identities.length > 0 ? { next: String(identities[identities.length - 1].seq) } : {}) };
  }

  apply(record: GalleryRecord, gallery: string): Effect {
    const h = record.header;
    const d = this.dimension;
    const vectors = record.vectors ?? new Float32Array(0);
    switch (h.op) {
      case 'identity': {
        // A whole identity (snapshots, exports, seeds): vectors = [seed?] + one per face.
        const id = h.id as string;
        if (this.identities.has(id)) throw exists(id, gallery);
        const faces = (h.faces as FaceEntry[]) ?? [];
        const seeded = typeof h.seedImages === 'number';
        expectVectors(vectors, (seeded ? 1 : 0) + faces.length, d, h.op);
        const identity: Identity = {
          id,
          seq: h.seq as number,
          metadata: (h.metadata as Metadata) ?? {},
          created: h.created as string,
          updated: h.updated as string,
          faces: faces.map((f, i) => toFace(f, vectors, (seeded ? 1 : 0) + i, d)),
          ...(seeded ? { seed: { vector: vectors.slice(0, d), images: h.seedImages as number } } : {}),
        };
        this.insert(identity);
        return { changed: [id], removed: [] };
      }
      case 'identity.create': {
        const id = h.id as string;
        if (this.identities.has(id)) throw exists(id, gallery);
        this.insert({ id, seq: h.seq as number, metadata: h.metadata as Metadata, created: h.created as string, updated: h.created as string, faces: [] });
        return { changed: [], removed: [] };
      }
      case 'identity.update': {
        const identity = this.get(h.id as string, gallery);
        this.replace(identity, { ...identity, metadata: h.metadata as Metadata, updated: h.updated as string });
        return { changed: [], removed: [] };
      }
      case 'identity.delete': {
        const identity = this.get(h.id as string, gallery);
        this.identities.delete(identity.id);
        this.removedInOrder++;
        this.faceCount -= identity.faces.length;
        this.compact();
        return { changed: [], removed: [identity.id] };
      }
      case 'faces.add': {
        const identity = this.get(h.id as string, gallery);
        const entries = h.faces as FaceEntry[];
        expectVectors(vectors, entries.length, d, h.op);
        const ids = new Set(identity.faces.map((f) => f.id));
        for (const e of entries) {
          if (ids.has(e.id)) throw new GalleryError('INVALID_PARAMETER', `face id ${e.id} exists in identity ${JSON.stringify(identity.id)}`);
          ids.add(e.id);
        }
        const faces = [...identity.faces, ...entries.map((e, i) => toFace(e, vectors, i, d))];
        this.replace(identity, { ...identity, faces, updated: h.updated as string });
        this.faceCount += entries.length;
        return { changed: [identity.id], removed: [] };
      }
      case 'face.delete': {
        const identity = this.get(h.id as string, gallery);
        const faces = identity.faces.filter((f) => f.id !== h.face);
        if (faces.length === identity.faces.length) {
          throw new GalleryError('FACE_NOT_FOUND', `Face ${JSON.stringify(h.face)} not found in identity ${JSON.stringify(identity.id)} of gallery "${gallery}"`);
        }
        this.replace(identity, { ...identity, faces, updated: h.updated as string });
        this.faceCount--;
        return { changed: [identity.id], removed: [] };
      }
      default:
        throw new GalleryError('GALLERY_CORRUPT', `gallery "${gallery}": unknown record "${h.op}"`);
    }
  }

  /** The records that rebuild this state (one per identity): snapshots and exports. */
  *records(): Generator<GalleryRecord> {
    const d = this.dimension;
    for (const identity of this.order) {
      if (this.identities.get(identity.id) !== identity) continue;
      const seedRows = identity.seed ? 1 : 0;
      const vectors = new Float32Array((seedRows + identity.faces.length) * d);
      if (identity.seed) vectors.set(identity.seed.vector, 0);
      identity.faces.forEach((f, i) => vectors.set(f.embedding, (seedRows + i) * d));
      yield {
        header: {
          op: 'identity',
          id: identity.id,
          seq: identity.seq,
          metadata: identity.metadata,
          created: identity.created,
          updated: identity.updated,
          faces: identity.faces.map(({ id, created, source }) => ({ id, created, source })),
          ...(identity.seed ? { seedImages: identity.seed.images } : {}),
        },
        ...(vectors.length > 0 ? { vectors } : {}),
      };
    }
  }

  /**
   * The live identities now, as an immutable list: identities are replaced, never changed in
   * place, so a snapshot can be written from this while requests go on.
   */
  capture(): GalleryState {
    const copy = new GalleryState(this.dimension);
    copy.order = this.order.filter((i) => this.identities.get(i.id) === i);
    for (const i of copy.order) copy.identities.set(i.id, i);
    copy.nextSeq = this.nextSeq;
    copy.faceCount = this.faceCount;
    return copy;
  }

  private insert(identity: Identity): void {
    if (this.order.length > 0 && identity.seq <= this.order[this.order.length - 1].seq) {
      throw new GalleryError('GALLERY_CORRUPT', `identity ${JSON.stringify(identity.id)}: seq ${identity.seq} is not after ${this.order[this.order.length - 1].seq}`);
    }
    this.identities.set(identity.id, identity);
    this.order.push(identity);
    this.nextSeq = Math.max(this.nextSeq, identity.seq + 1);
    this.faceCount += identity.faces.length;
  }

  /** Swaps in a changed copy of an identity (same seq: same place in the order). */
  private replace(old: Identity, next: Identity): void {
    this.identities.set(next.id, next);
    let lo = 0;
    let hi = this.order.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.order[mid].seq === old.seq) {
        this.order[mid] = next;
        return;
      }
      if (this.order[mid].seq < old.seq) lo = mid + 1;
      else hi = mid - 1;
    }
  }

  private compact(): void {
    if (this.removedInOrder < 1024 || this.removedInOrder * 2 < this.order.length) return;
    this.order = this.order.filter((i) => this.identities.get(i.id) === i);
    this.removedInOrder = 0;
  }
}

function exists(id: string, gallery: string): GalleryError {
  return new GalleryError('IDENTITY_EXISTS', `Identity ${JSON.stringify(id)} already exists in gallery "${gallery}"`);
}

function expectVectors(vectors: Float32Array, rows: number, d: number, op: string): void {
  if (vectors.length !== rows * d) throw new GalleryError('GALLERY_CORRUPT', `record ${op}: ${vectors.length} values for ${rows} vectors of dimension ${d}`);
}

function toFace(entry: FaceEntry, vectors: Float32Array, row: number, d: number): Face {
  return { id: entry.id, created: entry.created, source: entry.source, embedding: vectors.slice(row * d, (row + 1) * d) };
}
