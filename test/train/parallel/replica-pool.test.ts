// Data-parallel workers take the optimizer step of one big batch: replicas on worker threads,
// each with its shard and its own optimizer, against the whole batch's gradients computed in one
// pass (batch norm on its moving averages in both, so only the splitting differs), with EPL,
// whose empirical-prototype update gathers every shard's embeddings through shared memory. SGD
// with momentum keeps the summed gradient in its slot after the first step, so the slots pulled
// from a replica are compared with the reference gradients. Workers that accumulate micro-batches
// of their shard (--workers with --accumulate) take the same step. The replicas end identical, a
// worker without a shard included. A worker that dies fails the step with its reason and stops
// the others instead of leaving the run waiting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import type { NamedWeights } from '../../../src/train/nets/net.js';
import { stageOptimizer } from '../../../src/train/optimizer.js';
import { ReplicaPool } from '../../../src/train/parallel/replica-pool.js';
import type { PreparedStep } from '../../../src/train/objectives/objective.js';
import { TrainingRunError } from '../../../src/train/parallel/training-run-error.js';
import { shardGradients } from '../../../src/train/parallel/shard-gradients.js';
import { assertClose } from '../objectives/gradient-check.js';
import { bigBatch, disposeGradients, type BigBatch } from './one-big-batch.js';

// One pool serves every test of a describe (starting workers is most of their time): EPL on a
// batch of 11, so the shards are uneven (3, 4, 4; or 5, 6 as micro-batches 1, 2, 2 and 2, 2, 2)
// and the buffer update gathers across shards and micro-batches.
for (const { workers, accumulate } of [
  { workers: 3, accumulate: 1 },
  { workers: 2, accumulate: 3 },
]) describe(`data-parallel replicas: ${workers} workers${accumulate > 1 ? ` of ${accumulate} micro-batches each` : ''}`, () => {
  let b: BigBatch;
  let pool: ReplicaPool;
  const spec = { name: 'train', trainBackbone: true };
  // lr 1 and no decay: the step moves each weight by exactly its summed gradient.
  const sgd = { optimizer: 'sgd', learningRate: 1, momentum: 0.9, weightDecay: 0, clipGradNorm: 0 } as const;
  before(async () => {
    await resolveTrainingBackend({ log: () => {} });
    b = await bigBatch('epl', 11);
    b.config = { ...b.config, accumulate, stages: [{ ...b.config.stages[0], ...sgd }] };
    ({ pool } = await ReplicaPool.start({
      workers,
      config: b.config,
      shape: { inputShape: [28, 28, 1], classCounts: new Array(10).fill(1) },
      backend: tf.getBackend() === 'tensorflow' ? 'tfjs-node' : tf.getBackend(),
      net: b.backbone,
      objective: b.objective,
    }));
  });
  after(async () => {
    await pool.close();
    b.objective.dispose();
    b.backbone.dispose();
  });

  /** The models' current weights to every replica, with a fresh optimizer. */
  const pushFresh = () => pool.push({ net: b.backbone.getWeights(), objective: b.objective.getWeights() }, { stage: 'train', slots: {} });

  /** The same step in this thread on `prepared` whole (b's models end updated); its loss values and gradients by position. */
  function referenceStep(prepared: PreparedStep): { values: Float32Array; grads: Array<Float32Array | undefined>; buffer: Float32Array } {
    const g = shardGradients(b.backbone, b.objective, b.variables, prepared, b.position, { training: false });
    const out = { values: g.values.dataSync<'float32'>().slice(), grads: b.variables.map((v) => g.grads[v.name]?.dataSync<'float32'>().slice()), buffer: g.updates[0].value.dataSync<'float32'>().slice() };
    const optimizer = stageOptimizer(sgd, spec, b.backbone, b.objective);
    optimizer.apply(g.grads);
    for (const u of g.updates) u.variable.assign(u.value);
    optimizer.dispose();
    disposeGradients(g);
    return out;
  }

  function assertStep(pulled: { net: NamedWeights; objective: NamedWeights; optimizer: NamedWeights }, expected: ReturnType<typeof referenceStep>): void {
    const received = expected.grads.flatMap((g, i) => (g ? [`${i}/momentum`] : []));
    assert.ok(received.length > 0);
    assert.deepEqual(Object.keys(pulled.optimizer).sort(), ['iter', ...received].sort());
    expected.grads.forEach((g, i) => g && assertClose(pulled.optimizer[`${i}/momentum`].values, g, `summed gradient of variable ${i}`, 2e-4, 2e-6));
    // The whole batch's buffer update (EPL's empirical prototypes), and the updated weights.
    assertClose(pulled.objective.empirical_prototypes.values, expected.buffer, 'empirical prototypes', 1e-5, 1e-6);
    for (const [group, weights] of [['net', b.backbone.getWeights()], ['objective', b.objective.getWeights()]] as const) {
      for (const [name, w] of Object.entries(weights)) assertClose(pulled[group][name].values, w.values, `${group} ${name} after the step`, 2e-4, 2e-6);
    }
  }

  it('the workers take the step of the whole batch: its loss, gradients, buffer update and weights (EPL, uneven shards)', async () => {
    // Batch norm in inference mode in the replicas as in the reference: only the splitting differs.
    await pushFresh();
    const before = b.objective.getWeights().empirical_prototypes.values;
    const step = await pool.step(b.prepared, b.position, 1, { training: false });
    const expected = referenceStep(b.prepared);
    assert.notDeepEqual(expected.buffer, before);
    assertClose(step.values.dataSync(), expected.values, 'loss and terms', 1e-5, 1e-6);
    step.values.dispose();
    assertStep(await pool.pull(), expected);
  });

  it('a batch smaller than the worker count: the worker without a shard takes the same update, every replica ends identical', async () => {
    const fewer = await bigBatch('epl', workers - 1);
    fewer.objective.dispose();
    fewer.backbone.dispose();
    await pushFresh();
    (await pool.step(fewer.prepared, b.position, 1, { training: false })).values.dispose();
    const expected = referenceStep(fewer.prepared);
    const replicas: Array<Awaited<ReturnType<ReplicaPool['pull']>>> = [];
    for (let k = 0; k < workers; k++) replicas.push(await pool.pull(k));
    assertStep(replicas[0], expected);
    for (let k = 1; k < workers; k++) assert.deepEqual(replicas[k], replicas[0], `replica ${k + 1}`);
  });

  it('fails the step with the reason when a worker dies, stops the others, and fails every later step', async () => {
    await pushFresh();
    (await pool.step(b.prepared, b.position, 0.01)).values.dispose();
    const step = pool.step(b.prepared, b.position, 0.01);
    await pool.threads[workers - 1].terminate();
    const reason = new RegExp(`worker ${workers} of ${workers} exited`);
    await assert.rejects(step, (e: unknown) => e instanceof TrainingRunError && e.code === 'TRAINING_WORKER_FAILED' && reason.test(e.message));
    await assert.rejects(pool.step(b.prepared, b.position, 0.01), reason);
    // The surviving workers were stopped too (they waited at a barrier for the dead one).
    await pool.close();
    assert.deepEqual(pool.threads.map((w) => w.threadId), new Array(workers).fill(-1));
  });
});
