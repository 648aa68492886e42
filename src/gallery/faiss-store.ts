// GalleryStore on faiss-node, run in one worker thread per process (faiss-worker.ts): the main
// thread only posts requests and awaits replies, so /v2/health/live answers while a search over
// a million prototypes runs. The thread starts with the first store and stays for the next one;
// it keeps the process alive only while a request is outstanding.
import type { Worker } from 'node:worker_threads';

import { startWorker } from '../worker-thread.js';
import type { WorkerReply, WorkerRequest } from './faiss-worker.js';
import { GalleryError, type GalleryErrorCode } from './gallery-error.js';
import type { GalleryStore, IndexSpec, SearchHit, StoreStats, UpsertOptions } from './gallery-store.js';
import { InvariantError } from '../errors.js';

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };
type Request = WorkerRequest extends infer R ? (R extends { seq: number } ? Omit<R, 'seq'> : never) : never;

/** The worker thread and its outstanding requests; referenced (keeps the process alive) only while busy. */
class FaissThread {
  private static current?: FaissThread;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private nextStore = 1;
  private failure?: Error;

  static shared(): FaissThread {
    return (FaissThread.current ??= new FaissThread());
  }

  private constructor() {
    // OpenBLAS reads this when the addon loads; one thread per BLAS call is much faster for
    // single queries (100 queries over 100k x 512: 135 ms, against 480-1630 ms by default).
    process.env.OPENBLAS_NUM_THREADS ??= '1';
    // faiss's OpenMP threads sleep when idle instead of spinning: on a shared or busy machine a
    // spinning thread takes the core the search needs (HNSW search p50 halved here).
    process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
    this.worker = startWorker(import.meta.url, './faiss-worker');
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.seq);
      if (!p) return;
      this.pending.delete(reply.seq);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else p.reject(reply.code === 'INTERNAL' ? new InvariantError(reply.message) : new GalleryError(reply.code as GalleryErrorCode, reply.message));
    });
    const fail = (err: Error) => {
      this.failure = new GalleryError('FAISS_UNAVAILABLE', `the faiss worker thread stopped: ${err.message}`);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
      if (FaissThread.current === this) FaissThread.current = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new GalleryError('GALLERY_UNAVAILABLE', `exit code ${code}`)));
  }

  newStoreId(): number {
    return this.nextStore++;
  }

  call<T>(request: Request, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.ref();
      this.worker.postMessage({ ...request, seq }, transfer);
    });
  }
}

/**
 * A copy of `values` whose buffer is exactly its data, to transfer to the worker (posting a
 * view would clone its whole underlying buffer).
 */
function ownCopy(values: Float32Array): Float32Array {
  return values.slice();
}

export class FaissStore implements GalleryStore {
  private closed = false;

  private constructor(
    private readonly thread: FaissThread,
    private readonly id: number,
    readonly dimension: number,
    readonly spec: IndexSpec,
  ) {}

  /** A new, empty store; FAISS_UNAVAILABLE (with the reason) when the addon does not load. */
  static async open(dimension: number, spec: IndexSpec): Promise<FaissStore> {
    const thread = FaissThread.shared();
    const id = thread.newStoreId();
    await thread.call({ op: 'create', store: id, dimension, spec });
    return new FaissStore(thread, id, dimension, spec);
  }

  upsert(keys: readonly string[], vectors: Float32Array, options: UpsertOptions = {}): Promise<void> {
    const copy = ownCopy(vectors);
    return this.call({ op: 'upsert', store: this.id, keys: [...keys], vectors: copy, defer: options.defer ?? false }, [copy.buffer as ArrayBuffer]);
  }

  remove(keys: readonly string[]): Promise<void> {
    return this.call({ op: 'remove', store: this.id, keys: [...keys] });
  }

  search(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    const copy = ownCopy(queries);
    return this.call({ op: 'search', store: this.id, queries: copy, k }, [copy.buffer as ArrayBuffer]);
  }

  get(keys: readonly string[]): Promise<Array<Float32Array | undefined>> {
    return this.call({ op: 'get', store: this.id, keys: [...keys] });
  }

  flush(): Promise<void> {
    return this.call({ op: 'flush', store: this.id });
  }

  stats(): Promise<StoreStats> {
    return this.call({ op: 'stats', store: this.id });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.thread.call({ op: 'drop', store: this.id }).catch(() => undefined);
  }

  private call<T>(request: Request, transfer?: ArrayBuffer[]): Promise<T> {
    if (this.closed) return Promise.reject(new GalleryError('GALLERY_UNAVAILABLE', 'the gallery store is closed'));
    return this.thread.call<T>(request, transfer);
  }
}
