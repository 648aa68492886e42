// The queue in front of one model's executor: every item (one image's input tensor) waits here
// until a runner (executor slot) is free, and concurrent items are gathered into one
// onnxruntime run of up to maxBatch items (dynamic batching, as Triton's dynamic batcher:
// dispatch at once when a full batch is waiting, else when the oldest item has waited
// maxDelayMs; under load batches form from the backlog while the runners are busy, each batch
// taking at most its runner's share of the backlog).
//
// The queue is bounded: a submission that does not fit is refused at once with QUEUE_FULL and
// a Retry-After estimate, instead of growing memory. Each submission may carry an AbortSignal
// (deadline, client gone): an aborted item leaves the queue at once and its promise rejects
// with the signal's reason; an item already running has its result dropped. A batch that fails
// is run again item by item, so one bad input fails only its own request.
//
// Items are handed to the runner as they came (views, possibly of shared memory: ./input-slots.ts),
// never copied here; a submission's onReleased tells its owner when the scheduler and the runner
// are done with them.
import { InferError } from './infer-error.js';
import { SchedulerError } from './scheduler-error.js';
import { InvariantError } from '../errors.js';

/** What the scheduler needs of an executor. */
export interface BatchRunner {
  readonly slots: number;
  /** One output row per item; the items must not be used once the promise settles. */
  run(items: readonly Float32Array[]): Promise<Float32Array[]>;
}

export interface BatchSettings {
  /** Most items in one run (1: no batching). */
  maxBatch: number;
  maxDelayMs: number;
  /** Most items waiting (not yet running). */
  maxQueue: number;
  /** Told of every batch that ran (metrics: batch sizes, queue and inference times). */
  onBatch?: (batch: BatchRecord) => void;
}

/** One batch that ran: its size, how long its items waited, how long it ran. */
export interface BatchRecord {
  size: number;
  /** ms each item waited in the queue. */
  queueMs: number[];
  /** ms of the run (executor round trip). */
  inferenceMs: number;
}

export interface SubmitOptions {
  /** Aborting it (deadline, client gone) drops the items; their promises reject with its reason. */
  signal?: AbortSignal;
  /**
   * Called once when nothing reads the submitted items any more: each was refused, dropped from
   * the queue, or its run (retries included) has ended. Called even when submit() refuses them.
   */
  onReleased?: () => void;
}

/** One item's result, with where its time went. */
export interface ItemResult {
  row: Float32Array;
  /** ms from submission until its batch started. */
  queueMs: number;
  /** ms its batch ran (executor round trip). */
  inferenceMs: number;
  /** Items in its batch. */
  batchSize: number;
}

export interface SchedulerStats {
  /** Items waiting. */
  queued: number;
  /** Batches running. */
  running: number;
  /** Items run so far, and the batches they ran in. */
  items: number;
  batches: number;
  /** Items refused because the queue was full. */
  rejected: number;
}

interface Item {
  data: Float32Array;
  /** Called once the item's data is no longer needed. */
  release: () => void;
  enqueued: number;
  signal?: AbortSignal;
  onAbort?: () => void;
  settled: boolean;
  resolve: (r: ItemResult) => void;
  reject: (err: unknown) => void;
}

/** Smoothing of the per-item run time that Retry-After estimates use. */
const EWMA = 0.2;

export class BatchScheduler {
  private readonly queue: Item[] = [];
  private running = 0;
  private timer?: NodeJS.Timeout;
  private closed?: () => Error;
  private readonly idle: Array<() => void> = [];
  private msPerItem = 0;
  private readonly counts = { items: 0, batches: 0, rejected: 0 };

  constructor(
    private readonly runner: BatchRunner,
    /** Floats per item. */
    private readonly itemSize: number,
    private readonly settings: BatchSettings,
    private readonly name: string,
  ) {
    if (!(settings.maxBatch >= 1) || !(settings.maxQueue >= 1) || !(settings.maxDelayMs >= 0)) {
      throw new InvariantError(`BatchScheduler(${name}): invalid settings ${JSON.stringify(settings)}`);
    }
  }

  stats(): SchedulerStats {
    return { queued: this.queue.length, running: this.running, ...this.counts };
  }

  /**
   * Queues the items (all or none: QUEUE_FULL when they do not all fit) and resolves with one
   * result per item, in order. Items of one submission may run in different batches.
   */
  submit(items: readonly Float32Array[], options: SubmitOptions = {}): Promise<ItemResult[]> {
    const { signal, onReleased } = options;
    const refuse = (err: unknown) => {
      onReleased?.();
      return Promise.reject(err);
    };
    if (this.closed) return refuse(this.closed());
    if (signal?.aborted) return refuse(signal.reason);
    for (const data of items) {
      if (data.length !== this.itemSize) {
        return refuse(new InferError('INPUT_INVALID', `${this.name}: an item has ${data.length} floats, the model takes ${this.itemSize}`));
      }
    }
    if (this.queue.length + items.length > this.settings.maxQueue) {
      this.counts.rejected += items.length;
      return refuse(new SchedulerError('QUEUE_FULL', `model "${this.name}" has ${this.queue.length} images queued (limit ${this.settings.maxQueue})`, { retryAfterS: this.retryAfterS() }));
    }
    if (items.length === 0) onReleased?.();
    let held = items.length;
    const now = performance.now();
    const results = items.map(
      (data) =>
        new Promise<ItemResult>((resolve, reject) => {
          let released = false;
          const release = () => {
            if (released) return;
            released = true;
            if (--held === 0) onReleased?.();
          };
          const item: Item = { data, release, enqueued: now, signal, settled: false, resolve, reject };
          if (signal) {
            item.onAbort = () => this.abort(item);
            signal.addEventListener('abort', item.onAbort, { once: true });
          }
          this.queue.push(item);
        }),
    );
    this.pump();
    return Promise.all(results);
  }

  /** Seconds until the queue has likely drained: the Retry-After of a refusal. */
  retryAfterS(): number {
    const waiting = this.queue.length + this.running * this.settings.maxBatch;
    const ms = (waiting * this.msPerItem) / Math.max(1, this.runner.slots);
    return Math.min(60, Math.max(1, Math.ceil(ms / 1000)));
  }

  /**
   * Refuses new submissions with `error()`, rejects what is queued with it, and resolves once
   * the running batches have finished (their results still reach their requests).
   */
  async close(error: () => Error): Promise<void> {
    this.closed = error;
    clearTimeout(this.timer);
    for (const item of this.queue.splice(0)) {
      this.settle(item, () => item.reject(error()));
      item.release();
    }
    if (this.running > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private abort(item: Item): void {
    const at = this.queue.indexOf(item);
    // Still queued: it leaves now. Running: its result will be dropped, its data released when the run ends.
    if (at >= 0) this.queue.splice(at, 1);
    this.settle(item, () => item.reject(item.signal?.reason ?? new SchedulerError('CANCELLED', 'cancelled')));
    if (at >= 0) item.release();
  }

  private settle(item: Item, action: () => void): void {
    if (item.settled) return;
    item.settled = true;
    if (item.onAbort) item.signal?.removeEventListener('abort', item.onAbort);
    action();
  }

  private pump(): void {
    // The backlog is spread over the runners: one free runner taking all of it would leave the
    // others idle until its batch ends, and its clients would all come back at once.
    const share = Math.ceil(this.queue.length / this.runner.slots);
    while (!this.closed && this.running < this.runner.slots && this.queue.length > 0) {
      const { maxBatch, maxDelayMs } = this.settings;
      if (this.queue.length < maxBatch && maxDelayMs > 0) {
        const wait = this.queue[0].enqueued + maxDelayMs - performance.now();
        if (wait > 0) {
          this.timer ??= setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, wait);
          return;
        }
      }
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.runBatch(this.queue.splice(0, Math.min(maxBatch, share)));
    }
  }

  private async runBatch(items: Item[]): Promise<void> {
    this.running++;
    try {
      const started = performance.now();
      try {
        const rows = await this.runner.run(items.map((item) => item.data));
        this.finish(items, rows, started);
      } catch (err) {
        if (items.length === 1) return this.settle(items[0], () => items[0].reject(err));
        // One bad input must not fail its batch-mates: run each alone, each with its own fate.
        for (const item of items) {
          if (item.settled) continue;
          const alone = performance.now();
          try {
            this.finish([item], await this.runner.run([item.data]), alone);
          } catch (itemErr) {
            this.settle(item, () => item.reject(itemErr));
          }
        }
      }
    } finally {
      for (const item of items) item.release();
      this.running--;
      if (this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
      this.pump();
    }
  }

  private finish(items: Item[], rows: Float32Array[], started: number): void {
    const ended = performance.now();
    const inferenceMs = ended - started;
    this.counts.items += items.length;
    this.counts.batches++;
    const perItem = inferenceMs / items.length;
    this.settings.onBatch?.({ size: items.length, queueMs: items.map((item) => started - item.enqueued), inferenceMs });
    this.msPerItem = this.msPerItem === 0 ? perItem : (1 - EWMA) * this.msPerItem + EWMA * perItem;
    items.forEach((item, i) => {
      const row = rows[i];
      this.settle(item, () =>
        row ? item.resolve({ row, queueMs: started - item.enqueued, inferenceMs, batchSize: items.length }) : item.reject(new InferError('INFERENCE_FAILED', `${this.name}: the run returned ${rows.length} rows for ${items.length} items`)),
      );
    });
  }
}
