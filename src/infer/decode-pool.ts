// Image decoding and face alignment in a pool of worker threads (decode-worker.ts), so the event
// loop only routes. A model's input tensor is written straight into the shared slot it is given
// (./input-slots.ts), so it never passes through the main thread. Workers start on first use. At most `concurrency` images are decoded at once (one per worker: each
// decode holds up to maxPixels * 4 bytes), at most `maxQueued` wait for a worker; beyond that a
// task is refused at once with QUEUE_FULL. A task carries the request's AbortSignal: an
// aborted task leaves the queue at once; a running one has its result dropped, and one that
// writes into a slot rejects only when the worker is done with the slot.
import type { Worker } from 'node:worker_threads';

import type { InputSpec } from '../artifact/manifest.js';
import { InvariantError } from '../errors.js';
import { startWorker } from '../worker-thread.js';
import { InferError, type InferErrorCode } from './infer-error.js';
import { DEFAULT_MAX_PIXELS, type RgbImage } from './preprocess.js';
import { SchedulerError } from './scheduler-error.js';

/** What a worker is asked to do with one image. */
export type DecodeRequest = { bytes: Uint8Array; maxPixels: number } & (
  | { kind: 'tensor'; input: InputSpec; into: Float32Array }
  | { kind: 'decode' }
  | { kind: 'align'; input: InputSpec; faces: Float64Array[] }
);
export type DecodeTask = DecodeRequest & { id: number };

export type DecodeReply =
  | { id: number; ok: true; kind: 'tensor' }
  | { id: number; ok: true; kind: 'align'; tensors: Float32Array[] }
  | { id: number; ok: true; kind: 'decode'; image: RgbImage }
  | { id: number; ok: false; code: string; message: string };

export interface DecodePoolOptions {
  /** Worker threads, i.e. images decoded at once. */
  concurrency: number;
  /** Tasks waiting for a worker before QUEUE_FULL. */
  maxQueued: number;
  /** Largest image in pixels (sharp's limitInputPixels). */
  maxPixels?: number;
  /** Faces aligned per image at most. */
  maxFaces?: number;
}

export interface TaskOptions {
  signal?: AbortSignal;
}

/** Aligned face crops as input tensors, and how many faces were over the limit. */
export interface AlignedFaces {
  tensors: Float32Array[];
  /** Faces past limits.max_faces, not aligned. */
  dropped: number;
}

type Job = { task: DecodeRequest; signal?: AbortSignal; onAbort?: () => void; settled: boolean; resolve: (r: DecodeReply) => void; reject: (err: unknown) => void };

const IMAGE_CODES: readonly InferErrorCode[] = ['IMAGE_UNREADABLE', 'IMAGE_TOO_LARGE', 'INPUT_INVALID'];

class DecodeWorker {
  job?: Job;
  constructor(readonly worker: Worker) {}
}

export class DecodePool {
  private readonly workers: DecodeWorker[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;
  readonly maxPixels: number;
  readonly maxFaces: number;

  constructor(private readonly options: DecodePoolOptions) {
    this.maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
    this.maxFaces = options.maxFaces ?? Infinity;
  }

  /** Starts every worker now (a server does, so the first requests do not pay for it). */
  start(): void {
    while (this.workers.length < Math.max(1, this.options.concurrency)) {
      const w = this.spawn();
      this.workers.push(w);
    }
  }

  /** Images waiting for a worker, and being decoded. */
  stats(): { queued: number; decoding: number } {
    return { queued: this.queue.length, decoding: this.workers.filter((w) => w.job).length };
  }

  /**
   * Encoded image -> one item of the model's input tensor (decode, resize, normalize), written
   * into `into`: a view of shared memory (an input slot), which the worker writes in place.
   */
  async tensor(bytes: Uint8Array, input: InputSpec, into: Float32Array, options: TaskOptions = {}): Promise<void> {
    if (!(into.buffer instanceof SharedArrayBuffer)) throw new InvariantError('DecodePool.tensor: `into` must be a view of a SharedArrayBuffer');
    await this.submit({ kind: 'tensor', bytes, input, into, maxPixels: this.maxPixels }, options);
  }

  /** Encoded image -> upright 8-bit pixels (e.g. for a face detector). */
  async decode(bytes: Uint8Array, options: TaskOptions = {}): Promise<RgbImage> {
    const reply = await this.submit({ kind: 'decode', bytes, maxPixels: this.maxPixels }, options);
    return (reply as Extract<DecodeReply, { kind: 'decode' }>).image;
  }

  /**
   * Encoded image + 5-point (or 68-point) landmarks of each face, in the image's pixels and in
   * the order to keep (largest first) -> each face aligned onto the ArcFace template at the
   * embedder's input size, as input tensors. Faces past maxFaces are not aligned.
   */
  async align(bytes: Uint8Array, faces: readonly ArrayLike<number>[], input: InputSpec, options: TaskOptions = {}): Promise<AlignedFaces> {
    const kept = faces.slice(0, this.maxFaces).map((f) => Float64Array.from(f));
    const dropped = faces.length - kept.length;
    if (kept.length === 0) return { tensors: [], dropped };
    const reply = await this.submit({ kind: 'align', bytes, input, faces: kept, maxPixels: this.maxPixels }, options);
    return { tensors: (reply as Extract<DecodeReply, { kind: 'align' }>).tensors, dropped };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, () => job.reject(new SchedulerError('CANCELLED', 'the decode pool is closing')));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private submit(task: DecodeRequest, options: TaskOptions): Promise<DecodeReply> {
    if (this.closed) return Promise.reject(new SchedulerError('CANCELLED', 'the decode pool is closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Workers start on demand, up to `concurrency`: a pool that never decodes costs nothing.
    let free = this.workers.find((w) => !w.job);
    if (!free && this.workers.length < Math.max(1, this.options.concurrency)) this.workers.push((free = this.spawn()));
    if (!free && this.queue.length >= this.options.maxQueued) {
      return Promise.reject(new SchedulerError('QUEUE_FULL', `${this.queue.length} images are waiting to be decoded (limit ${this.options.maxQueued})`, { retryAfterS: 1 }));
    }
    const reply = new Promise<DecodeReply>((resolve, reject) => {
      const job: Job = { task, signal, settled: false, resolve, reject };
      if (signal) {
        job.onAbort = () => {
          const at = this.queue.indexOf(job);
          if (at >= 0) this.queue.splice(at, 1);
          // A worker writing into a slot keeps the job until it is done (then it rejects).
          else if (task.kind === 'tensor') return;
          this.settle(job, () => job.reject(signal.reason));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      if (free) this.assign(free, job);
      else this.queue.push(job);
    });
    return reply.then((r) => {
      if (r.ok) return r;
      throw (IMAGE_CODES as readonly string[]).includes(r.code) ? new InferError(r.code as InferErrorCode, r.message) : new InferError('IMAGE_UNREADABLE', r.message);
    });
  }

  private assign(w: DecodeWorker, job: Job): void {
    w.job = job;
    const id = this.nextId++;
    const bytes = job.task.bytes;
    // A body that owns its whole buffer is handed over; a slice of a shared pool is copied.
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer);
    const task = { ...job.task, id, bytes: owned ? bytes : bytes.slice() } as DecodeTask;
    w.worker.ref();
    w.worker.postMessage(task, [task.bytes.buffer as ArrayBuffer]);
  }

  private settle(job: Job, action: () => void): void {
    if (job.settled) return;
    job.settled = true;
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    action();
  }

  private next(w: DecodeWorker): void {
    w.job = undefined;
    const job = this.queue.shift();
    if (job && !this.closed) this.assign(w, job);
    else w.worker.unref();
  }

  private spawn(): DecodeWorker {
    const w = new DecodeWorker(startWorker(import.meta.url, './decode-worker'));
    w.worker.unref();
    w.worker.on('message', (reply: DecodeReply) => {
      const job = w.job;
      if (job) this.settle(job, () => (job.signal?.aborted ? job.reject(job.signal.reason) : job.resolve(reply)));
      this.next(w);
    });
    const replace = (why: string) => {
      const job = w.job;
      w.job = undefined;
      if (job) this.settle(job, () => job.reject(new InferError('IMAGE_UNREADABLE', `the decode worker ${why} on this image`)));
      const at = this.workers.indexOf(w);
      if (this.closed || at < 0) return;
      const fresh = this.spawn();
      this.workers[at] = fresh;
      this.next(fresh);
    };
    w.worker.on('error', (err) => replace(`failed (${err.message})`));
    w.worker.on('exit', (code) => replace(`exited with code ${code}`));
    return w;
  }
}
