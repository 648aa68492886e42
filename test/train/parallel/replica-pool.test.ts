// Data-parallel workers compute the gradients of one big batch: replicas on worker threads,
// each with its shard, against the whole batch in one pass (batch norm on its moving averages in
// both, so only the splitting differs), with EPL, whose empirical-prototype update gathers
// every shard's embeddings through shared memory. A worker that dies fails the step with its
// reason and stops the others instead of leaving the run waiting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { ReplicaPool } from '../../../src/train/parallel/replica-pool.js';
import { TrainingRunError } from '../../../src/train/parallel/training-run-error.js';
import { assertClose } from '../objectives/gradient-check.js';
import { assertSameGradients, bigBatch, disposeGradients, referenceGradients, type BigBatch } from './one-big-batch.js';

async function startPool(b: BigBatch, workers: number): Promise<ReplicaPool> {
  const { pool } = await ReplicaPool.start({
    workers,
    config: b.config,
    shape: { inputShape: [28, 28, 1], classCounts: new Array(10).fill(1) },
    backend: tf.getBackend() === 'tensorflow' ? 'tfjs-node' : tf.getBackend(),
    parameters: b.variables.reduce((n, v) => n + v.size, 0),
    gatherFloats: b.prepared.size * 1024,
  });
  return pool;
}

describe('data-parallel replicas', () => {
  // One pool of 3 workers serves both tests (starting workers is most of their time): EPL on a
  // batch of 11, so the shards are uneven (3, 4, 4) and the buffer update gathers across them.
  let b: BigBatch;
  let pool: ReplicaPool;
  const spec = { name: 'train', trainBackbone: true };
  before(async () => {
    await resolveTrainingBackend({ log: () => {} });
    b = await bigBatch('epl', 11);
    pool = await startPool(b, 3);
  });
  after(async () => {
    await pool.close();
    b.objective.dispose();
    b.backbone.dispose();
  });

  it('3 workers give the gradients, loss and buffer updates of the whole batch (EPL, uneven shards)', async () => {
    // Batch norm in inference mode in the replicas as in the reference: only the splitting differs.
    const expected = referenceGradients(b);
    const bufferBefore = b.objective.getWeights();
    const actual = await pool.compute(b.backbone, b.objective, spec, b.variables, b.prepared, b.position, { training: false });
    // The first replica's buffers were loaded into the objective: the whole batch's update.
    const after = b.objective.getWeights();
    assert.notDeepEqual(after.empirical_prototypes.values, bufferBefore.empirical_prototypes.values);
    assertClose(after.empirical_prototypes.values, expected.updates[0].value.dataSync(), 'empirical prototypes', 1e-5, 1e-6);
    assertSameGradients({ ...actual, updates: [] }, { ...expected, updates: [] });
    disposeGradients(actual);
    disposeGradients(expected);
  });

  it('fails the step with the reason when a worker dies, stops the others, and fails every later step', async () => {
    disposeGradients(await pool.compute(b.backbone, b.objective, spec, b.variables, b.prepared, b.position));
    const step = pool.compute(b.backbone, b.objective, spec, b.variables, b.prepared, b.position);
    await pool.threads[2].terminate();
    await assert.rejects(step, (e: unknown) => e instanceof TrainingRunError && e.code === 'TRAINING_WORKER_FAILED' && /worker 3 of 3 exited/.test(e.message));
    await assert.rejects(pool.compute(b.backbone, b.objective, spec, b.variables, b.prepared, b.position), /worker 3 of 3 exited/);
    // The surviving workers were stopped too (they waited at EPL's gather barrier for the dead one).
    await pool.close();
    assert.deepEqual(pool.threads.map((w) => w.threadId), [-1, -1, -1]);
  });
});
