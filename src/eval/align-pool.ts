// A pool of image decode/align worker threads (align-worker.ts); tasks are answered in any order.
// A worker that stops, by an uncaught error or by exiting (process.exit on tsx's start-up path,
// an out-of-memory kill), fails every task it still holds and every later one with its reason,
// so the run ends with ALIGN_WORKER_FAILED instead of waiting forever.
import { Worker } from 'node:worker_threads';

import type { AlignResult, AlignTask } from './align-worker.js';

/**
 * The align worker. Built (dist/) it is align-worker.js; run from source through tsx, the
 * worker thread gets tsx's loader first (a worker does not inherit --import hooks everywhere).
 */
export function startAlignWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./align-worker.js', import.meta.url));
  const target = new URL('./align-worker.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const boot =
    `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(target)}); })` +
    `.catch((err) => { console.error(err); process.exit(1); });`;
  return new Worker(boot, { eval: true });
}

export type AlignTaskInput = Omit<AlignTask, 'id'>;

/** A task's answer, or why the pool could not answer it. */
export type PoolResult = AlignResult | { id: number; ok: false; poolFailure: string };

export class AlignPool {
  private readonly workers: Worker[] = [];
  /** Pending tasks per worker: a worker that stops fails exactly its own. */
  private readonly pending = new Map<Worker, Map<number, (r: PoolResult) => void>>();
  private next = 0;
  private closing = false;
  /** Why the pool stopped working (the first worker failure). */
  failure?: string;

  constructor(size: number, start: () => Worker = startAlignWorker) {
    for (let i = 0; i < size; i++) {
      const w = start();
      const mine = new Map<number, (r: PoolResult) => void>();
      this.pending.set(w, mine);
      w.on('message', (r: AlignResult) => {
        const resolve = mine.get(r.id);
        mine.delete(r.id);
        resolve?.(r);
      });
      w.on('error', (err) => this.fail(w, `align worker ${i} failed: ${err.message}`));
      w.on('messageerror', (err) => this.fail(w, `align worker ${i} sent a message that cannot be read: ${err.message}`));
      w.on('exit', (code) => {
        if (!this.closing) this.fail(w, `align worker ${i} exited with code ${code}`);
      });
      this.workers.push(w);
    }
  }

  private fail(worker: Worker, reason: string): void {
    this.failure ??= reason;
    const mine = this.pending.get(worker);
    if (!mine) return;
    for (const [id, resolve] of mine) resolve({ id, ok: false, poolFailure: reason });
    mine.clear();
  }

  run(task: AlignTaskInput, transfer: ArrayBuffer[] = []): Promise<PoolResult> {
    if (this.failure !== undefined) return Promise.resolve({ id: -1, ok: false, poolFailure: this.failure });
    const id = this.next++;
    const worker = this.workers[id % this.workers.length];
    return new Promise((resolve) => {
      this.pending.get(worker)?.set(id, resolve);
      worker.postMessage({ ...task, id }, transfer);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
