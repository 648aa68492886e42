// A served model as every route sees it: its manifest, its state, and run / classify / embed
// methods that go through the model's queue (BatchScheduler) to its executor. This is the one
// way the server runs a model. It has ModelSession's method names and arguments, plus an
// optional last RunOptions argument carrying the request's AbortSignal (deadline, client gone)
// and a timing record the scheduler fills. runEncoded / embedEncoded take encoded images: the
// decode pool writes their tensors into the model's shared input slots (./input-slots.ts), from
// where its inference workers read them, so they never pass through the main thread.
//
// States: loading (executor starting, warm-up running) -> ready | failed; ready | failed ->
// unloading -> unloaded. Only a ready model runs requests; the others refuse with
// MODEL_UNAVAILABLE naming the state.
import type { Manifest } from '../artifact/manifest.js';
import type { SchedulerSettings } from '../config/server-config.js';
import { InvariantError, messageOf } from '../errors.js';
import { BatchScheduler, type BatchRecord, type ItemResult, type SchedulerStats } from './batch-scheduler.js';
import type { DecodePool } from './decode-pool.js';
import type { ProviderAttempt } from './create-session.js';
import type { Device, ExecutionProvider } from './devices.js';
import type { InferenceExecutor } from './executor.js';
import { InferError } from './infer-error.js';
import { InputSlots } from './input-slots.js';
import { DEFAULT_TOP_K } from './model-session.js';
import { embeddingsOf, predictionsOf, type Prediction } from './postprocess.js';
import { imageToTensor, inputSize, preprocessPixels, type RgbImage } from './preprocess.js';
import { planBatching } from './session-plan.js';
import { SchedulerError } from './scheduler-error.js';

export type ModelState = 'loading' | 'ready' | 'failed' | 'unloading' | 'unloaded';

/** Where a request's inference time went (filled by run() when passed in RunOptions). */
export interface RunTiming {
  /** ms waiting in the queue (the longest of the request's items). */
  queueMs: number;
  /** ms of the batch runs (the longest of the request's items). */
  inferenceMs: number;
  /** Items in the largest batch the request's items ran in. */
  batchSize: number;
}

export interface RunOptions {
  /** Aborting drops the request's queued items and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Filled with the queue and inference times. */
  timing?: RunTiming;
}

/** runEncoded's options: also told how long decoding took. */
export interface EncodedRunOptions extends RunOptions {
  onDecoded?: (ms: number) => void;
}

/** Seconds a client is asked to wait for a model that is still loading. */
const LOADING_RETRY_AFTER_S = 5;

export class ScheduledModel {
  private currentState: ModelState = 'loading';
  private failure?: string;
  private executor?: InferenceExecutor;
  private scheduler?: BatchScheduler;
  private readonly inputs: InputSlots;
  /** Told of every batch this model runs (set by its pool, for metrics). */
  onBatch?: (batch: BatchRecord) => void;

  constructor(
    readonly manifest: Manifest,
    /** The settings asked for (config defaults with this model's overrides). */
    readonly settings: SchedulerSettings,
  ) {
    this.inputs = new InputSlots(inputSize(manifest.input));
  }

  get name(): string {
    return this.manifest.name;
  }
  get state(): ModelState {
    return this.currentState;
  }
  /** Why the model failed (state failed). */
  get reason(): string | undefined {
    return this.failure;
  }
  get device(): Device | undefined {
    return this.executor?.device;
  }
  get provider(): ExecutionProvider | undefined {
    return this.executor?.provider;
  }
  get attempts(): ProviderAttempt[] {
    return this.executor?.attempts ?? [];
  }
  get executorKind(): InferenceExecutor['kind'] | undefined {
    return this.executor?.kind;
  }
  /** Sessions running the model (the executor's slots). */
  get sessions(): number | undefined {
    return this.executor?.slots;
  }
  /** Floats per item (height * width * channels). */
  get itemSize(): number {
    return inputSize(this.manifest.input);
  }
  /**
   * Most items one run gathers: settings.maxBatch where batching is on (auto: for the provider
   * that runs the model, ./session-plan.ts) and the graph's batch dimension allows it, else 1.
   */
  get maxBatch(): number {
    if (!this.executor || !planBatching(this.settings.batching, this.executor.provider)) return 1;
    return Math.max(1, Math.min(this.settings.maxBatch, this.executor.maxBatch));
  }

  stats(): SchedulerStats | undefined {
    return this.scheduler?.stats();
  }

  /** Seconds until a refused request may succeed (Retry-After). */
  retryAfterS(): number {
    return this.scheduler?.retryAfterS() ?? LOADING_RETRY_AFTER_S;
  }

  /** Gives the model its executor (state stays loading until warmup() passes). */
  attach(executor: InferenceExecutor): void {
    this.executor = executor;
    this.scheduler = new BatchScheduler(executor, this.itemSize, { maxBatch: this.maxBatch, maxDelayMs: this.settings.maxDelayMs, maxQueue: this.settings.maxQueue, onBatch: (b) => this.onBatch?.(b) }, this.name);
    executor.onBroken = (why) => this.fail(why);
  }

  fail(reason: string): void {
    this.currentState = 'failed';
    this.failure = reason;
  }

  /**
   * One real inference on a mid-grey image through the queue, checking the output is finite:
   * a model that passes turns ready (the first run also pays onnxruntime's lazy set-up).
   * Never rejects: a failure turns the model failed, with the reason.
   */
  async warmup(): Promise<void> {
    try {
      if (!this.scheduler) throw new InvariantError('no executor');
      const { width, height } = this.manifest.input;
      const grey: RgbImage = { data: new Uint8Array(width * height * 3).fill(128), width, height, channels: 3 };
      const [{ row }] = await this.scheduler.submit([imageToTensor(grey, this.manifest.input)]);
      const bad = row.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new InferError('INFERENCE_FAILED', `${this.name}: warm-up output[${bad}] is ${row[bad]}, not a finite number`);
      if (this.currentState === 'loading') this.currentState = 'ready';
    } catch (err) {
      this.fail(messageOf(err));
    }
  }

  /**
   * Refuses new requests, lets queued ones fail with MODEL_UNAVAILABLE and running batches
   * finish, then releases the executor.
   */
  async unload(): Promise<void> {
    if (this.currentState === 'unloaded') return;
    this.currentState = 'unloading';
    await this.scheduler?.close(() => this.unavailable());
    await this.executor?.release().catch(() => undefined);
    this.currentState = 'unloaded';
  }

  /**
   * Runs n items laid out back to back in `batch` (n * itemSize floats, the manifest's layout);
   * one output row per item. Each item queues on its own and may share a run with other
   * requests' items.
   */
  async run(batch: Float32Array, n: number, options: RunOptions = {}): Promise<Float32Array[]> {
    const size = this.itemSize;
    if (!Number.isInteger(n) || n < 1 || batch.length !== n * size) {
      throw new InferError('INPUT_INVALID', `Batch of ${batch.length} floats is not ${n} x ${size}`);
    }
    return this.runItems(Array.from({ length: n }, (_, i) => batch.subarray(i * size, (i + 1) * size)), options);
  }

  /**
   * Encoded images, one item each: `decoders` decodes and preprocesses them (worker threads)
   * straight into this model's shared input slots, and the items run from there. One output
   * row per image, in order.
   */
  async runEncoded(images: readonly Uint8Array[], decoders: DecodePool, options: EncodedRunOptions = {}): Promise<Float32Array[]> {
    this.checkReady();
    const slots = images.map(() => this.inputs.acquire());
    let owned = true;
    const release = () => slots.forEach((slot) => this.inputs.release(slot));
    try {
      const t0 = performance.now();
      // Every decode settles (a worker still writing holds its slot) before any slot is let go.
      const decoded = await Promise.allSettled(images.map((bytes, i) => decoders.tensor(bytes, this.manifest.input, slots[i], { signal: options.signal })));
      options.onDecoded?.(performance.now() - t0);
      const failed = decoded.find((d) => d.status === 'rejected');
      if (failed) throw failed.reason;
      this.checkReady();
      owned = false;
      const results = await this.scheduler!.submit(slots, { signal: options.signal, onReleased: release });
      if (options.timing) record(options.timing, results);
      return results.map((r) => r.row);
    } finally {
      if (owned) release();
    }
  }

  /** Embedder: runEncoded's rows as L2-normalized vectors. */
  async embedEncoded(images: readonly Uint8Array[], decoders: DecodePool, options: EncodedRunOptions = {}): Promise<Float32Array[]> {
    this.expectTask('embedder', 'embed');
    return embeddingsOf(this.manifest, await this.runEncoded(images, decoders, options));
  }

  /** Input slots made and held (shared memory the decoders write into). */
  inputStats(): { made: number; held: number } {
    return this.inputs.stats();
  }

  /** Like run(), one input tensor per item. */
  async runItems(items: readonly Float32Array[], options: RunOptions = {}): Promise<Float32Array[]> {
    this.checkReady();
    const results = await this.scheduler!.submit(items, { signal: options.signal });
    if (options.timing) record(options.timing, results);
    return results.map((r) => r.row);
  }

  /** Classifier: top-k {label, score} per item, scores as probabilities (softmax of logits). */
  async classify(batch: Float32Array, n: number, params: { topK?: number } = {}, options: RunOptions = {}): Promise<Prediction[][]> {
    this.expectTask('classifier', 'classify');
    const rows = await this.run(batch, n, options);
    return rows.map((row) => this.predictions(row, params.topK ?? DEFAULT_TOP_K));
  }

  /** Embedder: one L2-normalized vector per item. */
  async embed(batch: Float32Array, n: number, options: RunOptions = {}): Promise<Float32Array[]> {
    this.expectTask('embedder', 'embed');
    return embeddingsOf(this.manifest, await this.run(batch, n, options));
  }

  /** Embedder over decoded pixels (e.g. aligned face crops); other sizes are resized per the manifest. */
  async embedPixels(images: readonly RgbImage[], options: RunOptions = {}): Promise<Float32Array[]> {
    this.expectTask('embedder', 'embed');
    const { input } = this.manifest;
    const items = await Promise.all(images.map((img) => (img.width === input.width && img.height === input.height ? imageToTensor(img, input) : preprocessPixels(img, input))));
    return embeddingsOf(this.manifest, await this.runItems(items, options));
  }

  /** Scores as probabilities, best k first. */
  predictions(row: Float32Array, k: number): Prediction[] {
    return predictionsOf(this.manifest, row, k);
  }

  /** Throws MODEL_UNAVAILABLE (with the state, and Retry-After while loading) unless ready. */
  checkReady(): void {
    if (this.currentState !== 'ready' || !this.scheduler) throw this.unavailable();
  }

  private unavailable(): SchedulerError {
    const state = this.currentState;
    const hint: Record<ModelState, string> = {
      loading: 'it is still loading; retry shortly',
      ready: 'it is ready',
      failed: `it failed: ${this.failure ?? 'unknown reason'}; POST /v1/models/${this.name}/load retries it`,
      unloading: `it is being unloaded; POST /v1/models/${this.name}/load loads it again`,
      unloaded: `it is unloaded; POST /v1/models/${this.name}/load loads it`,
    };
    return new SchedulerError('MODEL_UNAVAILABLE', `"${this.name}" is ${state}: ${hint[state]}`, {
      state,
      retryAfterS: state === 'loading' ? LOADING_RETRY_AFTER_S : undefined,
    });
  }

  private expectTask(task: Manifest['task'], what: string): void {
    if (this.manifest.task !== task) {
      throw new InferError('WRONG_TASK', `Model "${this.name}" is ${this.manifest.task}; ${what} needs ${task}`);
    }
  }
}

function record(timing: RunTiming, results: readonly ItemResult[]): void {
  for (const r of results) {
    timing.queueMs = Math.max(timing.queueMs, r.queueMs);
    timing.inferenceMs = Math.max(timing.inferenceMs, r.inferenceMs);
    timing.batchSize = Math.max(timing.batchSize, r.batchSize);
  }
}
