// The messages between the training loop's replica pool (./replica-pool.ts) and its worker
// threads (./replica-worker.ts), and the shared memory they use.
//
// Shared memory, allocated by the pool:
//   control   Int32Array [arrived, generation, aborted]: the barrier of ctx.gather, and the
//             pool's signal that a worker failed (waiting workers stop instead of hanging)
//   gather    Float32Array: the rows every shard contributes to a ctx.gather call
//   gradients Float32Array, one slot per worker: the worker's gradients, already multiplied by
//             its share of the batch, variable after variable in the stage's order
import type { RunShape } from '../build-net.js';
import type { NamedWeights } from '../nets/net.js';
import type { PreparedStep, StepPosition } from '../objectives/objective.js';
import type { RunConfig } from '../run-config.js';

export interface ReplicaInit {
  index: number;
  config: RunConfig;
  shape: RunShape;
  /** The training backend's name (each worker loads its own instance). */
  backend: string;
  control: SharedArrayBuffer;
  gather: SharedArrayBuffer;
  gradients: SharedArrayBuffer;
  /** Floats per worker slot of `gradients`. */
  slotFloats: number;
}

export const CONTROL_ARRIVED = 0;
export const CONTROL_GENERATION = 1;
export const CONTROL_ABORTED = 2;
export const CONTROL_SLOTS = 3;

export interface ReplicaStep {
  kind: 'step';
  stage: string;
  trainBackbone: boolean;
  position: StepPosition;
  /** Batch norm on the shard's statistics (true) or on its moving averages. */
  training: boolean;
  shard: PreparedStep;
  /** Where the shard starts in the batch, the batch's size, and how many workers have a shard. */
  start: number;
  total: number;
  active: number;
  /** The replica's weights for this step: the pool's after the previous update. */
  weights: { net: NamedWeights; objective: NamedWeights };
  /** Send back the weights after the step (the first worker: batch-norm statistics and buffers). */
  returnWeights: boolean;
}

export type ReplicaMessage =
  | { kind: 'ready'; description: string }
  | {
      kind: 'done';
      /** [loss, ...terms], multiplied by the shard's share of the batch. */
      values: number[];
      terms: string[];
      /** Per variable: whether it received a gradient. */
      hasGradient: boolean[];
      weights?: { net: NamedWeights; objective: NamedWeights };
    };
