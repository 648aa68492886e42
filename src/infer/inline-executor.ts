// The main-thread executor: one ModelSession, run through onnxruntime-node's async API. In
// onnxruntime-node 1.30 that API dispatches the synchronous native run through setImmediate,
// so a run blocks the event loop for its whole duration; see scripts/bench/serve.ts for what
// that costs against worker threads.
import { packItems, type InferenceExecutor } from './executor.js';
import type { ModelSession } from './model-session.js';

export class InlineExecutor implements InferenceExecutor {
  readonly kind = 'inline' as const;
  /** Native runs on the main thread happen one after another, whatever the number of sessions. */
  readonly slots = 1;

  constructor(private readonly session: Pick<ModelSession, 'device' | 'provider' | 'attempts' | 'maxBatch' | 'run' | 'release'>) {}

  get device() {
    return this.session.device;
  }
  get provider() {
    return this.session.provider;
  }
  get attempts() {
    return this.session.attempts;
  }
  get maxBatch() {
    return this.session.maxBatch;
  }

  run(items: readonly Float32Array[]): Promise<Float32Array[]> {
    return this.session.run(packItems(items), items.length);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
