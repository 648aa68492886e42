// Data-parallel training on worker threads, as PyTorch's DistributedDataParallel computes it: one
// replica of the backbone and the objective per worker (./replica-worker.ts), each on its own
// backend instance; every batch split into one shard per worker; each worker's gradients,
// multiplied by its shard's share of the batch, written to its slot of shared memory and summed
// here in worker order (so a run is reproducible for a seed and a worker count); one update by
// the loop's optimizer. The replicas take the weights of the pool's net and objective at every
// step, so checkpoints and --resume are the loop's own.
//
// Batch norm normalizes each shard with the shard's statistics (as DDP without SyncBatchNorm),
// and the moving averages kept are the first worker's (DDP's broadcast_buffers). Objective
// buffers updated through ctx.gather see the whole batch in every replica; the first worker's
// are kept.
//
// A worker that throws or exits fails the step in progress and every later one with its reason
// (TRAINING_WORKER_FAILED); the others are told through shared memory and stopped.
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../errors.js';
import type { RunShape } from '../build-net.js';
import type { Net } from '../nets/net.js';
import type { Objective, PreparedStep, StageSpec, StepPosition } from '../objectives/objective.js';
import type { RunConfig } from '../run-config.js';
import { startWorker } from '../../worker-thread.js';
import { shardBounds, shardOf } from './prepared-shard.js';
import { CONTROL_ABORTED, CONTROL_GENERATION, CONTROL_SLOTS, type ReplicaInit, type ReplicaMessage, type ReplicaStep } from './replica-protocol.js';
import type { StepGradients } from './shard-gradients.js';
import { TrainingRunError } from './training-run-error.js';

type Done = Extract<ReplicaMessage, { kind: 'done' }>;

export interface ReplicaPoolOptions {
  workers: number;
  config: RunConfig;
  shape: RunShape;
  backend: string;
  /** Floats of the largest set of trainable variables of any stage. */
  parameters: number;
  /** Floats a ctx.gather call may collect from the whole batch. */
  gatherFloats: number;
}

export class ReplicaPool {
  readonly threads: Worker[] = [];
  private readonly control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_SLOTS));
  private readonly gradients: Float32Array;
  private readonly waiting = new Map<number, { resolve: (m: ReplicaMessage) => void; reject: (e: Error) => void }>();
  private closing?: Promise<void>;
  /** Why the pool stopped working: the first worker failure. */
  failure?: TrainingRunError;

  private constructor(private readonly o: ReplicaPoolOptions) {
    const gradients = new SharedArrayBuffer(4 * o.parameters * o.workers);
    const gather = new SharedArrayBuffer(4 * o.gatherFloats);
    this.gradients = new Float32Array(gradients);
    for (let index = 0; index < o.workers; index++) {
      const workerData: ReplicaInit = { index, config: o.config, shape: o.shape, backend: o.backend, control: this.control.buffer as SharedArrayBuffer, gather, gradients, slotFloats: o.parameters };
      const w = startWorker(import.meta.url, './replica-worker', { workerData });
      w.on('message', (m: ReplicaMessage) => {
        const waiter = this.waiting.get(index);
        this.waiting.delete(index);
        waiter?.resolve(m);
      });
      w.on('error', (err) => this.fail(index, `threw: ${err.message}`));
      w.on('messageerror', (err) => this.fail(index, `sent a message that cannot be read: ${err.message}`));
      w.on('exit', (code) => {
        if (!this.closing) this.fail(index, `exited with code ${code}`);
      });
      this.threads.push(w);
    }
  }

  /** Starts the workers and waits until each has built its replica; returns what they run on. */
  static async start(o: ReplicaPoolOptions): Promise<{ pool: ReplicaPool; description: string }> {
    const pool = new ReplicaPool(o);
    try {
      const ready = await Promise.all(pool.threads.map((_, i) => pool.next(i)));
      return { pool, description: (ready[0] as Extract<ReplicaMessage, { kind: 'ready' }>).description };
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  private next(index: number): Promise<ReplicaMessage> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.set(index, { resolve, reject }));
  }

  private fail(index: number, reason: string): void {
    if (this.failure) return;
    this.failure = new TrainingRunError('TRAINING_WORKER_FAILED', `training worker ${index + 1} of ${this.o.workers} ${reason}; the run stops (its last checkpoint is intact)`, {
      details: { worker: index + 1 },
    });
    // Workers waiting for this one at a gather barrier stop waiting.
    Atomics.store(this.control, CONTROL_ABORTED, 1);
    Atomics.notify(this.control, CONTROL_GENERATION);
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
    void this.close();
  }

  /**
   * The gradients of the whole batch for `variables` (the loop's optimizer's, in order); the
   * first worker's batch-norm statistics and objective buffers are loaded into `net` and
   * `objective`, so the result carries no updates. `training: false` runs batch norm on its
   * moving averages (tests: then splitting the batch changes nothing).
   */
  async compute(
    net: Net,
    objective: Objective,
    spec: StageSpec,
    variables: tf.Variable[],
    prepared: PreparedStep,
    position: StepPosition,
    o: { training?: boolean } = {},
  ): Promise<StepGradients> {
    if (this.failure) throw this.failure;
    const bounds = shardBounds(prepared.size, this.o.workers);
    const weights = { net: net.getWeights(), objective: objective.getWeights() };
    const answers = bounds.map(([start, end], k) => {
      const answer = this.next(k);
      const step: ReplicaStep = {
        kind: 'step',
        stage: spec.name,
        trainBackbone: spec.trainBackbone,
        position,
        training: o.training ?? true,
        shard: shardOf(prepared, start, end),
        start,
        total: prepared.size,
        active: bounds.length,
        weights,
        returnWeights: k === 0,
      };
      this.threads[k].postMessage(step);
      return answer as Promise<Done>;
    });
    const done = await Promise.all(answers);
    const sizes = variables.map((v) => v.size);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > this.o.parameters) throw new InvariantError(`replica pool: ${total} parameters exceed the ${this.o.parameters} it was sized for`);
    const grads: tf.NamedTensorMap = {};
    let offset = 0;
    variables.forEach((v, i) => {
      if (done.some((d) => d.hasGradient[i])) {
        const sum = new Float32Array(v.size);
        for (let k = 0; k < done.length; k++) {
          const slot = this.gradients.subarray(k * this.o.parameters + offset, k * this.o.parameters + offset + v.size);
          for (let j = 0; j < sum.length; j++) sum[j] += slot[j];
        }
        grads[v.name] = tf.tensor(sum, v.shape);
      }
      offset += sizes[i];
    });
    const values = new Array<number>(done[0].values.length).fill(0);
    for (const d of done) d.values.forEach((x, i) => (values[i] += x));
    const first = done[0].weights!;
    net.setWeights(first.net);
    objective.setWeights(first.objective);
    return { grads, values: tf.tensor1d(values), terms: done[0].terms, updates: [] };
  }

  /** Stops every worker (once; later calls wait for the same). */
  close(): Promise<void> {
    this.closing ??= Promise.all(this.threads.map((w) => w.terminate())).then(() => {});
    return this.closing;
  }
}
