// The contract every training backend satisfies, in the shape of onnxruntime-js's `Backend`:
// a name, a priority, and one async step that makes it the active tfjs backend or says why not.
export const TRAINING_BACKEND_NAMES = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;

export type TrainingBackendName = (typeof TRAINING_BACKEND_NAMES)[number];

export interface TrainingBackend {
  readonly name: TrainingBackendName;
  /** Higher is tried first when no backend is named. */
  readonly priority: number;
  /** The name tfjs knows the backend by (tf.getBackend() once it is active). */
  readonly tfjsName: string;
  /**
   * Imports and registers the tfjs backend, makes it the active one (tf.setBackend + tf.ready).
   * Throws an Error whose message says why it cannot run here. Cheap when called again.
   */
  load(): Promise<void>;
  /** What runs, once loaded, for the log: e.g. 'wasm (SIMD, 1 thread)'. */
  describe(): string;
  /** How a user makes it available when it is not, e.g. 'npm install @tensorflow/tfjs-node@4.22.0'. */
  readonly installHint?: string;
}

export function isTrainingBackendName(name: string): name is TrainingBackendName {
  return (TRAINING_BACKEND_NAMES as readonly string[]).includes(name);
}
