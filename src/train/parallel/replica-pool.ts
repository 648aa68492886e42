// Data-parallel training on worker threads, as PyTorch's DistributedDataParallel runs it: one
// replica of the backbone, the objective and the stage's optimizer per worker
// (./replica-worker.ts), each on its own backend instance; every batch split into one shard per
// worker; each worker's gradients, multiplied by its shard's share of the batch, written to its
// slot of shared memory; every worker then sums all slots in worker order and applies the same
// update to its replica, so the replicas stay identical and a run is reproducible for a seed and
// a worker count. Per step only the shards go to the workers and only the loss values come back.
//
// The loop's net, objective and optimizer slots meet the replicas only where the loop reads or
// changes them: `push` before the first step of a stage (start, resume, beginStage, a new
// optimizer) and after endEpoch; `pull` (from the first worker) before checkpoints, evaluation
// and endEpoch. So checkpoints and --resume are the loop's own.
//
// Batch norm normalizes each shard with the shard's statistics (as DDP without SyncBatchNorm),
// and the moving averages pulled are the first worker's (DDP's broadcast_buffers; the others'
// are never read: training uses batch statistics). Objective buffers updated through ctx.gather
// see the whole batch in every replica; after a step that updated buffers the first worker's
// objective is copied to the others through shared memory, so buffers updated from a shard alone
// (BCE3S's memory) are the first worker's in every replica.
//
// A worker that throws or exits fails the step in progress and every later one with its reason
// (TRAINING_WORKER_FAILED); the others are told through shared memory and stopped.
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../errors.js';
import type { RunShape } from '../build-net.js';
import type { NamedWeights, Net } from '../nets/net.js';
import type { Objective, PreparedStep, StepPosition } from '../objectives/objective.js';
import type { RunConfig } from '../run-config.js';
import { startWorker } from '../../worker-thread.js';
import { shardBounds, shardOf } from './prepared-shard.js';
import {
  CONTROL_ABORTED,
  CONTROL_GATHER,
  CONTROL_SLOTS,
  CONTROL_STEP,
  type ReplicaInit,
  type ReplicaLoad,
  type ReplicaMessage,
  type ReplicaRequest,
  type ReplicaSizes,
  type ReplicaState,
} from './replica-protocol.js';
import { TrainingRunError } from './training-run-error.js';
import type { StepValues } from '../pending-losses.js';

type Answer<K extends ReplicaMessage['kind']> = Extract<ReplicaMessage, { kind: K }>;

export interface ReplicaPoolOptions {
  workers: number;
  /** What every worker builds its replica from (with `shape`). */
  config: RunConfig;
  shape: RunShape;
  backend: string;
  /** The loop's backbone and objective, which size the shared memory. */
  net: Net;
  objective: Objective;
}

/** The shared memory for replicas of `net` and `objective` at the run's batch size. */
function replicaSizes(config: RunConfig, net: Net, objective: Objective): ReplicaSizes {
  const floats = (vs: tf.Variable[]) => vs.reduce((n, v) => n + v.size, 0);
  const heads = objective.stages.map((s) => objective.trainableVariables(s.name));
  return {
    parameters: floats(net.trainableVariables()) + Math.max(...heads.map(floats)),
    variables: net.trainableVariables().length + Math.max(...heads.map((h) => h.length)),
    objectiveFloats: Object.values(objective.getWeights()).reduce((n, w) => n + w.values.length, 0),
    gatherFloats: config.batchSize * Math.max(1024, 4 * net.outputDim),
  };
}

export class ReplicaPool {
  readonly threads: Worker[] = [];
  private readonly control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_SLOTS));
  private readonly waiting = new Map<number, { resolve: (m: ReplicaMessage) => void; reject: (e: Error) => void }>();
  private closing?: Promise<void>;
  /** Why the pool stopped working: the first worker failure. */
  failure?: TrainingRunError;

  private constructor(private readonly o: ReplicaPoolOptions) {
    const sizes = replicaSizes(o.config, o.net, o.objective);
    const shared = {
      control: this.control.buffer as SharedArrayBuffer,
      gather: new SharedArrayBuffer(4 * sizes.gatherFloats),
      gradients: new SharedArrayBuffer(4 * sizes.parameters * o.workers),
      received: new SharedArrayBuffer(4 * sizes.variables * o.workers),
      objective: new SharedArrayBuffer(4 * sizes.objectiveFloats),
    };
    for (let index = 0; index < o.workers; index++) {
      const workerData: ReplicaInit = { index, workers: o.workers, config: o.config, shape: o.shape, backend: o.backend, sizes, ...shared };
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
      return { pool, description: (ready[0] as Answer<'ready'>).description };
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
    // Workers waiting for this one at a barrier stop waiting.
    Atomics.store(this.control, CONTROL_ABORTED, 1);
    for (const barrier of [CONTROL_GATHER, CONTROL_STEP]) Atomics.notify(this.control, barrier + 1);
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
    void this.close();
  }

  /** Sends `request(k)` to each worker k of `to` and waits for their answers. */
  private async ask<K extends ReplicaMessage['kind']>(kind: K, to: number[], request: (k: number) => ReplicaRequest): Promise<Array<Answer<K>>> {
    if (this.failure) throw this.failure;
    const answers = to.map((k) => {
      const answer = this.next(k);
      this.threads[k].postMessage(request(k));
      return answer;
    });
    const got = await Promise.all(answers);
    for (const m of got) if (m.kind !== kind) throw new InvariantError(`replica pool: expected "${kind}", a worker answered "${m.kind}"`);
    return got as Array<Answer<K>>;
  }

  private get all(): number[] {
    return this.threads.map((_, k) => k);
  }

  /**
   * Gives every replica `state`; with `optimizer`, a new optimizer for that stage with those slots
   * ({}: fresh). Without, each replica keeps its optimizer (the loop changed net or objective only).
   */
  async push(state: ReplicaState, optimizer?: ReplicaLoad['optimizer']): Promise<void> {
    await this.ask('loaded', this.all, () => ({ kind: 'load', ...state, optimizer }));
  }

  /**
   * The replicas' state and optimizer slots: the first worker's (its batch-norm moving averages),
   * or worker `index`'s (tests: the replicas are the same).
   */
  async pull(index = 0): Promise<ReplicaState & { optimizer: NamedWeights }> {
    const [m] = await this.ask('state', [index], () => ({ kind: 'pull' }));
    return { net: m.net, objective: m.objective, optimizer: m.optimizer };
  }

  /**
   * One optimizer step of the whole batch at `learningRate`, in every replica (the stage's
   * optimizer given by the last push); returns the loss and its terms. `training: false` runs
   * batch norm on its moving averages (tests: then splitting the batch changes nothing).
   */
  async step(prepared: PreparedStep, position: StepPosition, learningRate: number, o: { training?: boolean } = {}): Promise<StepValues> {
    const bounds = shardBounds(prepared.size, this.o.workers);
    const done = await this.ask('done', this.all, (k) => ({
      kind: 'step',
      position,
      learningRate,
      training: o.training ?? true,
      shard: k < bounds.length ? shardOf(prepared, ...bounds[k]) : undefined,
      start: k < bounds.length ? bounds[k][0] : prepared.size,
      total: prepared.size,
      active: bounds.length,
    }));
    const values = new Array<number>(done[0].values.length).fill(0);
    for (const d of done) d.values.forEach((x, i) => (values[i] += x));
    return { values: tf.tensor1d(values), terms: done[0].terms };
  }

  /** Stops every worker (once; later calls wait for the same). */
  close(): Promise<void> {
    this.closing ??= Promise.all(this.threads.map((w) => w.terminate())).then(() => {});
    return this.closing;
  }
}
