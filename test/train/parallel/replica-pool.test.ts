// Data-parallel workers compute the gradients of one big batch: N replicas on worker threads,
// each with its shard, against the whole batch in one pass (batch norm on its moving averages in
// both, so only the splitting differs), including EPL, whose empirical-prototype update gathers
// every shard's embeddings through shared memory. A worker that dies fails the step with its
// reason and stops the others instead of leaving the run waiting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { ReplicaPool } from '../../../src/train/parallel/replica-pool.js';
import { TrainingRunError } from '../../../src/train/parallel/training-run-error.js';
import { assertSameGradients, bigBatch, disposeGradients, referenceGradients, type BigBatch } from './one-big-batch.js';

async function startPool(b: BigBatch, workers: number): Promise<ReplicaPool> {
  const { pool } = await ReplicaPool.start({
    workers,
    config: b.config,
    shape: { inputShape: [28, 28, 1], classCounts: new Array(10).fill(1) },
    backend: tf.getBackend() === 'tensorflow' ? 'tfjs-node' : tf.getBackend(),
    parameters: b.variables.reduce((n, v) => n + v.size, 0),
    gatherFloats: 12 * 1024,
  });
  return pool;
}

describe('data-parallel replicas', () => {
  const pools: ReplicaPool[] = [];
  before(async () => {
    await resolveTrainingBackend({ log: () => {} });
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  for (const [objective, workers] of [['softmax-ce', 2], ['epl', 3]] as const) {
    it(`${objective}: ${workers} workers give the gradients, loss and buffer updates of the whole batch`, async () => {
      const b = await bigBatch(objective);
      const pool = await startPool(b, workers);
      pools.push(pool);
      // Batch norm in inference mode in the replicas as in the reference: the moving averages are their initial values.
      const expected = referenceGradients(b);
      const bufferBefore = b.objective.getWeights();
      const actual = await pool.compute(b.backbone, b.objective, { name: 'train', trainBackbone: true }, b.variables, b.prepared, b.position, { training: false });
      // The replicas' buffer updates were loaded into the objective: compare them with the reference's.
      const after = b.objective.getWeights();
      if (objective === 'epl') {
        assert.notDeepEqual(after.empirical_prototypes.values, bufferBefore.empirical_prototypes.values);
        assert.deepEqual(after.empirical_prototypes.values, expected.updates[0].value.dataSync());
      }
      assertSameGradients({ ...actual, updates: [] }, { ...expected, updates: [] });
      disposeGradients(actual);
      disposeGradients(expected);
      await pool.close();
      b.objective.dispose();
      b.backbone.dispose();
    });
  }

  it('fails the step with the reason when a worker dies, stops the others, and fails every later step', async () => {
    const b = await bigBatch('epl');
    const pool = await startPool(b, 2);
    pools.push(pool);
    const spec = { name: 'train', trainBackbone: true };
    disposeGradients(await pool.compute(b.backbone, b.objective, spec, b.variables, b.prepared, b.position));
    const step = pool.compute(b.backbone, b.objective, spec, b.variables, b.prepared, b.position);
    await pool.threads[1].terminate();
    await assert.rejects(step, (e: unknown) => e instanceof TrainingRunError && e.code === 'TRAINING_WORKER_FAILED' && /worker 2 of 2 exited/.test(e.message));
    await assert.rejects(pool.compute(b.backbone, b.objective, spec, b.variables, b.prepared, b.position), /worker 2 of 2 exited/);
    // The surviving worker was stopped too (it waited at EPL's gather barrier for the dead one).
    await pool.close();
    assert.equal(pool.threads[0].threadId, -1, 'worker 1 stopped');
    b.objective.dispose();
    b.backbone.dispose();
  });
});
