// The worker-thread executor: sessions of one model, each in its own worker thread
// (inference-worker.ts), so onnxruntime's runs never block the event loop and several batches
// can run at once. A batch's items are posted to a free worker (views of shared input slots
// are shared, not copied), which packs and runs them; its output is transferred back.
// How many sessions, with how many threads, is ./session-plan.ts's call where the configuration
// says auto: the first session tells which provider runs the model, the others follow.
import type { Worker } from 'node:worker_threads';

import type { Manifest } from '../artifact/manifest.js';
import { ProtoserveError } from '../errors.js';
import { startWorker } from '../worker-thread.js';
import type { ProviderAttempt } from './create-session.js';
import type { Device, ExecutionProvider } from './devices.js';
import type { InferenceExecutor } from './executor.js';
import { InferError, type InferErrorCode } from './infer-error.js';
import { planSessions } from './session-plan.js';

export interface InferenceWorkerData {
  manifest: Manifest;
  modelPath: string;
  bytes?: Uint8Array;
  device: string;
  /** Resolved (at least 1). */
  intraOpThreads: number;
  /** The niceness the worker gives its thread before creating the session (0: unchanged). */
  nice: number;
}

/** A run's items: views of shared memory (input slots) are shared, others copied and transferred. */
export type WorkerRequest = { type: 'run'; id: number; items: readonly Float32Array[] } | { type: 'release' };

export type WorkerReply =
  | { type: 'ready'; provider: ExecutionProvider; device: Device; attempts: ProviderAttempt[]; maxBatch: number }
  | { type: 'failed'; code: string; message: string }
  | { type: 'result'; id: number; data: Float32Array; dim: number }
  | { type: 'error'; id: number; code: string; message: string };

export interface WorkerExecutorOptions {
  manifest: Manifest;
  modelPath: string;
  /** The verified model bytes (each worker gets a copy); else each worker reads modelPath. */
  bytes?: Uint8Array;
  device: Device | string;
  /** Sessions (0: auto, ./session-plan.ts). */
  workers: number;
  /** Intra-op threads per session (0: auto). */
  intraOpThreads: number;
  /** Niceness of the inference threads (0: unchanged). */
  nice: number;
}

const INFER_CODES: readonly InferErrorCode[] = ['UNSUPPORTED_DEVICE', 'DEVICE_UNAVAILABLE', 'MODEL_LOAD_FAILED', 'INPUT_INVALID', 'INFERENCE_FAILED'];

/** An error from a worker, rebuilt with its code (InferError where the code is one of ours). */
function rebuild(code: string, message: string): Error {
  return (INFER_CODES as readonly string[]).includes(code) ? new InferError(code as InferErrorCode, message) : new ProtoserveError(code, message);
}

interface Pending {
  resolve: (rows: Float32Array[]) => void;
  reject: (err: Error) => void;
}

class SessionWorker {
  readonly pending = new Map<number, Pending>();
  exited = false;
  constructor(readonly worker: Worker) {}
}

export class WorkerExecutor implements InferenceExecutor {
  readonly kind = 'worker' as const;
  onBroken?: (reason: string) => void;
  private readonly live: SessionWorker[];
  private nextId = 0;
  private released = false;

  private constructor(
    workers: SessionWorker[],
    readonly device: Device,
    readonly provider: ExecutionProvider,
    readonly attempts: ProviderAttempt[],
    readonly maxBatch: number,
    private readonly name: string,
  ) {
    this.live = workers;
    for (const w of workers) this.watch(w);
  }

  /**
   * Starts one worker, then as many more as the plan for its provider asks, and waits until each
   * has its session; any failure releases them all.
   */
  static async create(options: WorkerExecutorOptions): Promise<WorkerExecutor> {
    const asked = { workers: options.workers, intraOpThreads: options.intraOpThreads };
    const data: InferenceWorkerData = {
      manifest: options.manifest,
      modelPath: options.modelPath,
      bytes: options.bytes,
      device: String(options.device),
      intraOpThreads: planSessions(asked, 'cpu').intraOpThreads,
      nice: options.nice,
    };
    const workers: SessionWorker[] = [];
    const start = async (n: number) => {
      const added = Array.from({ length: n }, () => new SessionWorker(startWorker(import.meta.url, './inference-worker', { workerData: data })));
      workers.push(...added);
      const replies = await Promise.allSettled(added.map((w) => firstReply(w.worker)));
      const failed = replies.find((r) => r.status === 'rejected' || r.value.type !== 'ready');
      if (failed) {
        await Promise.all(workers.map((w) => w.worker.terminate()));
        if (failed.status === 'rejected') throw failed.reason;
        const reply = failed.value as Extract<WorkerReply, { type: 'failed' }>;
        throw rebuild(reply.code, reply.message);
      }
      return (replies[0] as PromiseFulfilledResult<Extract<WorkerReply, { type: 'ready' }>>).value;
    };
    const ready = await start(1);
    const more = planSessions(asked, ready.provider).sessions - 1;
    if (more > 0) await start(more);
    for (const w of workers) w.worker.unref();
    return new WorkerExecutor(workers, ready.device, ready.provider, ready.attempts, ready.maxBatch, options.manifest.name);
  }

  get slots(): number {
    return this.live.length;
  }

  run(items: readonly Float32Array[]): Promise<Float32Array[]> {
    // The scheduler never has more runs in flight than slots; the least busy worker takes it.
    const target = this.live.reduce<SessionWorker | undefined>((best, w) => (!best || w.pending.size < best.pending.size ? w : best), undefined);
    if (!target || this.released) return Promise.reject(new InferError('INFERENCE_FAILED', `${this.name}: no inference worker is running`));
    const id = this.nextId++;
    return new Promise<Float32Array[]>((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.ref();
      // A view of shared memory is shared as it is. Any other item is copied on its own and
      // transferred: posted as a view, it would carry its whole buffer (a large request's
      // tensor, split into items, would be copied once per batch).
      const transfer: ArrayBuffer[] = [];
      const posted = items.map((item) => {
        if (item.buffer instanceof SharedArrayBuffer) return item;
        const own = item.slice();
        transfer.push(own.buffer);
        return own;
      });
      target.worker.postMessage({ type: 'run', id, items: posted } satisfies WorkerRequest, transfer);
    });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all(
      this.live.map(async (w) => {
        w.worker.postMessage({ type: 'release' } satisfies WorkerRequest);
        const exited = new Promise<void>((resolve) => w.worker.once('exit', () => resolve()));
        const timer = setTimeout(() => void w.worker.terminate(), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  private watch(w: SessionWorker): void {
    w.worker.on('message', (reply: WorkerReply) => {
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const pending = w.pending.get(reply.id);
      w.pending.delete(reply.id);
      if (w.pending.size === 0) w.worker.unref();
      if (!pending) return;
      if (reply.type === 'error') return pending.reject(rebuild(reply.code, reply.message));
      const rows: Float32Array[] = [];
      for (let i = 0; i * reply.dim < reply.data.length; i++) rows.push(reply.data.subarray(i * reply.dim, (i + 1) * reply.dim));
      pending.resolve(rows);
    });
    const lost = (why: string) => {
      if (w.exited) return;
      w.exited = true;
      this.live.splice(this.live.indexOf(w), 1);
      for (const p of w.pending.values()) p.reject(new InferError('INFERENCE_FAILED', `${this.name}: inference worker ${why}`));
      w.pending.clear();
      if (!this.released && this.live.length === 0) this.onBroken?.(`every inference worker stopped (last: ${why})`);
    };
    w.worker.on('error', (err) => lost(`failed: ${err.message}`));
    w.worker.on('exit', (code) => lost(`exited with code ${code}`));
  }
}

function firstReply(worker: Worker): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      cleanup();
      resolve(reply);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new InferError('MODEL_LOAD_FAILED', `inference worker failed to start: ${err.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new InferError('MODEL_LOAD_FAILED', `inference worker exited with code ${code} while loading`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
