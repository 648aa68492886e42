// Where a model's onnxruntime sessions run. Two implementations of one small contract (as
// onnxruntime-common's backends implement one): InlineExecutor runs the session on the main
// thread through onnxruntime's async API; WorkerExecutor runs sessions in worker threads so the
// event loop only routes. The scheduler calls run() at most `slots` times at once.
import type { ProviderAttempt } from './create-session.js';
import type { Device, ExecutionProvider } from './devices.js';

export interface InferenceExecutor {
  readonly kind: 'inline' | 'worker';
  /** Runs that may be in flight at once (sessions). */
  readonly slots: number;
  readonly device: Device;
  /** The execution provider that runs the sessions. */
  readonly provider: ExecutionProvider;
  /** Providers tried before `provider`, with why they failed. */
  readonly attempts: ProviderAttempt[];
  /** Largest batch the graph accepts: Infinity when its batch dimension is dynamic. */
  readonly maxBatch: number;
  /**
   * Runs the items (each one item of the input tensor, in the manifest's layout) as one batch;
   * one output row per item. Items may be views of shared memory (./input-slots.ts): they are
   * read, never kept or transferred, and not used once the promise settles.
   */
  run(items: readonly Float32Array[]): Promise<Float32Array[]>;
  /** Called with why, when the executor can no longer run anything (a worker died). */
  onBroken?: (reason: string) => void;
  release(): Promise<void>;
}

/** The items back to back in one fresh array: the batch a session runs. */
export function packItems(items: readonly Float32Array[]): Float32Array {
  const size = items[0]?.length ?? 0;
  const batch = new Float32Array(items.length * size);
  items.forEach((item, i) => batch.set(item, i * size));
  return batch;
}
