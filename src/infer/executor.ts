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
   * Runs n items laid out back to back in `batch` (the manifest's layout); one output row per
   * item. May take ownership of `batch` (a worker executor transfers it).
   */
  run(batch: Float32Array, n: number): Promise<Float32Array[]>;
  /** Called with why, when the executor can no longer run anything (a worker died). */
  onBroken?: (reason: string) => void;
  release(): Promise<void>;
}
