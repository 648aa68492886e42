// The messages between the training loop's replica pool (./replica-pool.ts) and its worker
// threads (./replica-worker.ts), and the shared memory they use.
//
// Messages: `load` gives every replica the loop's state (start, resume, a new stage, after the
// loop changed the objective between epochs); `step` gives each worker its shard only (every
// worker answers with its loss values; the replicas update themselves); `pull` asks the first
// worker for the state the loop keeps (checkpoints, evaluation).
//
// Shared memory, allocated by the pool:
//   control    Int32Array: two barriers [arrived, generation] (ctx.gather's, among the workers
//              with a shard; the step's, among all workers), the pool's signal that a worker
//              failed (waiting workers stop instead of hanging), and whether the first worker
//              copies its objective to the others after this step
//   gather     Float32Array: the rows every shard contributes to a ctx.gather call
//   gradients  Float32Array, one slot per worker: the worker's gradients, already multiplied by
//              its share of the batch, variable after variable in the stage's order
//   received   Int32Array, one row per worker: which of the stage's variables got a gradient
//   objective  Float32Array: the first worker's objective weights after its update, in the
//              order of getWeights (buffers updated from its shard alone, e.g. BCE3S's memory)
import type { RunShape } from '../build-net.js';
import type { NamedWeights } from '../nets/net.js';
import type { PreparedStep, StepPosition } from '../objectives/objective.js';
import type { RunConfig } from '../run-config.js';

/** The floats and counts the shared memory is sized for. */
export interface ReplicaSizes {
  /** Floats of the largest set of trainable variables of any stage. */
  parameters: number;
  /** The most trainable variables of any stage. */
  variables: number;
  /** Floats of the objective's weights (parameters and buffers). */
  objectiveFloats: number;
  /** Floats a ctx.gather call may collect from the whole batch. */
  gatherFloats: number;
}

export interface ReplicaInit {
  index: number;
  workers: number;
  config: RunConfig;
  shape: RunShape;
  /** The training backend's name (each worker loads its own instance). */
  backend: string;
  sizes: ReplicaSizes;
  control: SharedArrayBuffer;
  gather: SharedArrayBuffer;
  gradients: SharedArrayBuffer;
  received: SharedArrayBuffer;
  objective: SharedArrayBuffer;
}

export const CONTROL_GATHER = 0;
export const CONTROL_STEP = 2;
export const CONTROL_ABORTED = 4;
export const CONTROL_COPY_OBJECTIVE = 5;
export const CONTROL_SLOTS = 6;

/** The state the loop keeps between steps: every replica's, and the first worker's when pulled. */
export interface ReplicaState {
  net: NamedWeights;
  objective: NamedWeights;
}

export interface ReplicaLoad extends ReplicaState {
  kind: 'load';
  /** A new optimizer for this stage, with these slots ({}: fresh); absent: keep the current one. */
  optimizer?: { stage: string; slots: NamedWeights };
}

export interface ReplicaStep {
  kind: 'step';
  position: StepPosition;
  learningRate: number;
  /** Batch norm on the shard's statistics (true) or on its moving averages. */
  training: boolean;
  /** This worker's samples; absent when the batch has fewer samples than workers (the worker still updates). */
  shard?: PreparedStep;
  /** Where the shard starts in the batch, the batch's size, and how many workers have a shard. */
  start: number;
  total: number;
  active: number;
}

export type ReplicaRequest = ReplicaLoad | ReplicaStep | { kind: 'pull' };

export type ReplicaMessage =
  | { kind: 'ready'; description: string }
  | { kind: 'loaded' }
  | {
      kind: 'done';
      /** [loss, ...terms], multiplied by the shard's share of the batch ([] without a shard). */
      values: number[];
      terms: string[];
    }
  | (ReplicaState & { kind: 'state'; optimizer: NamedWeights });
