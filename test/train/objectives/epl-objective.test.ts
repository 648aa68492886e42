// The EPL and margin-head objectives through the objective contract: the loss a step computes is
// the independent float64 reference's (and eplLoss's) on the same inputs; the empirical
// prototypes are updated from the whole batch through ctx.gather (a data-parallel shard sees every
// sample's update); through the training loop the Q buffer is written with the last sample of a
// class winning, and a resumed run ends exactly where an uninterrupted one does.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { mulberry32, streamSeed } from '../../../src/seeded-random.js';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { buildModels } from '../../../src/train/build-net.js';
import { readCheckpoint } from '../../../src/train/checkpoint.js';
import { loadDataset } from '../../../src/train/data/datasets.js';
import type { ImageDataset } from '../../../src/train/data/image-dataset.js';
import { epochPermutation } from '../../../src/train/data/rng.js';
import { InMemorySource } from '../../../src/train/data/training-source.js';
import { train, type RunState } from '../../../src/train/loop.js';
import { EplObjective } from '../../../src/train/objectives/epl-objective.js';
import { eplLoss } from '../../../src/train/objectives/epl-loss.js';
import { uniFaceBiasInit, type MarginHead } from '../../../src/train/objectives/margin-heads.js';
import { buildObjective, objectiveTask } from '../../../src/train/objectives/registry.js';
import type { StepTensors } from '../../../src/train/objectives/objective.js';
import { DEFAULT_RUN_CONFIG, DEFAULT_STAGE, type RunConfig } from '../../../src/train/run-config.js';
import { assertClose, flat, randomMatrix, t2 } from './gradient-check.js';
import { empiricalUpdateRef, eplRef, hat } from './reference.js';

const C = 4;
const labels = [2, 0, 2, 3, 2, 1];
const MARGIN: Record<MarginHead, number> = { cosface: 0.4, arcface: 0.5, uniface: 0.4 };

function fixture() {
  return { X: randomMatrix(6, 3, 51, 2), W: randomMatrix(C, 3, 52), Q: randomMatrix(C, 3, 53, 0.8), b: uniFaceBiasInit(C) + 0.3 };
}

function objectiveWith(head: MarginHead, epl: boolean, f: ReturnType<typeof fixture>): EplObjective {
  const o = new EplObjective({ features: 3, classes: C, seed: 1, epl, head });
  const weights = o.getWeights();
  weights.prototypes.values = Float32Array.from(flat(f.W));
  if (epl) weights.empirical_prototypes.values = Float32Array.from(flat(f.Q));
  if (head === 'uniface') weights['uniface.bias'].values = Float32Array.of(f.b);
  o.setWeights(weights);
  return o;
}

/** The objective's loss on rows [from, to) of the batch, as one data-parallel shard computes it. */
function shardLoss(o: EplObjective, f: ReturnType<typeof fixture>, epoch: number, from: number, to: number) {
  const batch = { pixels: new Float32Array(0), labels: Int32Array.from(labels), size: labels.length };
  const prepared = o.prepare(batch);
  const all = t2(f.X);
  const mine = t2(f.X.slice(from, to));
  const step: StepTensors = {
    features: [mine as tf.Tensor2D],
    labels: tf.tensor1d(labels.slice(from, to), 'int32'),
    labelValues: Int32Array.from(labels.slice(from, to)),
    rows: {},
    shared: prepared.shared,
  };
  let gathered = 0;
  // The other shards' rows (normalized and detached, as the objective hands them over) around ours.
  const gather = (t: tf.Tensor) => {
    gathered++;
    const others = tf.div(all, tf.norm(all, 2, 1, true));
    return tf.concat([others.slice([0, 0], [from, 3]), t, others.slice([to, 0], [labels.length - to, 3])]);
  };
  const out = o.loss(step, { stage: 'train', epoch, gather });
  return { loss: out.loss.dataSync()[0], updates: out.updates.map((u) => ({ name: u.variable.name, value: Array.from(u.value.dataSync()) })), gathered };
}

describe('EPL objective on the contract', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });

  for (const head of ['cosface', 'arcface', 'uniface'] as const) {
    for (const epoch of [1, 4]) {
      it(`${head}, epoch ${epoch}: the step's loss and new Q are the reference's and eplLoss's`, () => {
        const f = fixture();
        const o = objectiveWith(head, true, f);
        const got = shardLoss(o, f, epoch, 0, labels.length);
        const ref = eplRef({ X: f.X, W: f.W, b: f.b }, { X: f.X, W: f.W }, f.Q, labels, { head, s: 64, m: MARGIN[head], k: 0.7, epoch, epl: true });
        assertClose([got.loss], [ref.loss], 'loss vs reference', 2e-5, 1e-5);
        assert.equal(got.gathered, 1, 'the update reads the whole batch through ctx.gather');
        assert.equal(got.updates.length, 1);
        assertClose(got.updates[0].value, flat(ref.Q), 'Q vs reference', 1e-5, 1e-6);
        const direct = tf.tidy(() =>
          eplLoss(
            { embeddings: t2(f.X) as tf.Tensor2D, labels: Int32Array.from(labels), prototypes: t2(f.W) as tf.Tensor2D, empiricalPrototypes: t2(f.Q) as tf.Tensor2D, epoch, uniFaceBias: tf.scalar(f.b) },
            { head, margin: MARGIN[head] },
          ).loss.dataSync()[0],
        );
        assertClose([got.loss], [direct], 'loss vs eplLoss', 1e-6, 1e-6);
        o.dispose();
      });
    }

    it(`${head} without EPL: the head's loss, no buffer, no update`, () => {
      const f = fixture();
      const o = objectiveWith(head, false, f);
      assert.equal(o.name, 'margin');
      assert.ok(!('empirical_prototypes' in o.getWeights()));
      const got = shardLoss(o, f, 5, 0, labels.length);
      const ref = eplRef({ X: f.X, W: f.W, b: f.b }, { X: f.X, W: f.W }, f.Q, labels, { head, s: 64, m: MARGIN[head], k: 0.7, epoch: 5, epl: false });
      assertClose([got.loss], [ref.loss], 'loss', 2e-5, 1e-5);
      assert.deepEqual(got.updates, []);
      assert.equal(got.gathered, 0);
      o.dispose();
    });
  }

  it('a data-parallel shard updates Q from every sample of the batch, and the shards\' losses average to the whole batch\'s', () => {
    const f = fixture();
    const whole = shardLoss(objectiveWith('arcface', true, f), f, 4, 0, 6);
    const a = shardLoss(objectiveWith('arcface', true, f), f, 4, 0, 2);
    const b = shardLoss(objectiveWith('arcface', true, f), f, 4, 2, 6);
    assertClose(a.updates[0].value, whole.updates[0].value, 'shard 1 Q', 1e-6, 1e-7);
    assertClose(b.updates[0].value, whole.updates[0].value, 'shard 2 Q', 1e-6, 1e-7);
    assertClose([(2 * a.loss + 4 * b.loss) / 6], [whole.loss], 'mean of the shard losses', 1e-5, 1e-5);
  });

  it('trains W (and UniFace\'s b) but not Q, exports an L2 normalization, and gives prototypes for a gallery', () => {
    const f = fixture();
    const epl = objectiveWith('uniface', true, f);
    assert.deepEqual(epl.trainableVariables().map((v) => v.shape), [[C, 3], []]);
    assert.equal(epl.task, 'embedder');
    assert.deepEqual(epl.inferenceHead(), { kind: 'l2normalize' });
    const p = epl.prototypes();
    assert.equal(p.kind, 'empirical');
    assertClose(p.values, flat(f.Q), 'empirical prototypes as stored', 1e-6, 1e-7);
    const margin = objectiveWith('cosface', false, f);
    assert.equal(margin.prototypes().kind, 'learned');
    assertClose(margin.prototypes().values, flat(f.W.map(hat)), 'hat(W)', 1e-6, 1e-7);
    epl.dispose();
    margin.dispose();
  });

  it('is built by name with its options, and refuses options it does not take', () => {
    assert.equal(objectiveTask('epl'), 'embedder');
    assert.equal(objectiveTask('softmax-ce'), 'classifier');
    const ctx = { features: 3, classes: C, classCounts: [1, 1, 1, 1], seed: 1 };
    const o = buildObjective('epl', ctx, { head: 'cosface', scale: 30, k: 0.5 });
    assert.deepEqual(o.hyperparameters, { head: 'cosface', scale: 30, margin: 0.4, k: 0.5, startEpoch: 4 });
    // Q starts random and NOT unit length (LOSSES.md).
    const q = o.getWeights().empirical_prototypes.values;
    const norm = Math.hypot(q[0], q[1], q[2]);
    assert.ok(Math.abs(norm - 1) > 1e-3, `row norm ${norm}`);
    o.dispose();
    assert.throws(() => buildObjective('margin', ctx, { head: 'arcface', k: 0.5 }), /objective options k do not apply here/);
    assert.throws(() => buildObjective('epl', ctx, { head: 'sphereface' }), /Unsupported head: "sphereface". Should be one of: cosface, arcface, uniface/);
  });
});

describe('EPL through the training loop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'epl-loop-'));
  let backend = '';
  // Three MNIST classes, so every batch of 8 repeats a class: the Q update's last write decides.
  const mnist = loadDataset('mnist');
  const keep = Array.from(mnist.train.labels.keys()).filter((i) => mnist.train.labels[i] < 3).slice(0, 24);
  const images = new Uint8Array(keep.length * 784);
  keep.forEach((at, i) => images.set(mnist.train.images.subarray(at * 784, (at + 1) * 784), i * 784));
  const split = { images, labels: Int32Array.from(keep, (i) => mnist.train.labels[i]), count: keep.length };
  const dataset: ImageDataset = { ...mnist, classNames: ['0', '1', '2'], train: split };
  const config: RunConfig = {
    ...DEFAULT_RUN_CONFIG,
    objective: 'epl',
    objectiveOptions: { head: 'arcface' },
    width: 4,
    embeddingDim: 8,
    batchSize: 8,
    checkpointEvery: 0,
    stages: [{ ...DEFAULT_STAGE, epochs: 5, optimizer: 'sgd', learningRate: 0.05, schedule: 'cosine' }],
  };

  before(async () => {
    backend = (await resolveTrainingBackend({ log: () => {} })).name;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function run(path: string, maxSteps: number | undefined, resume: boolean) {
    const { backbone, objective } = buildModels(config, { inputShape: [28, 28, 1], classCounts: [8, 8, 8] });
    const q0 = objective.getWeights().empirical_prototypes.values;
    const data = new InMemorySource(dataset, split);
    const { state } = await train({ config: { ...config, maxSteps }, data, net: backbone, objective, backend, checkpointPath: path, resume, log: () => {} });
    objective.dispose();
    backbone.dispose();
    return { state, q0, data };
  }

  it('writes Q after each step from the batch\'s embeddings, the last sample of a class winning', async () => {
    const path = join(dir, 'one-step.ckpt');
    const { q0, data } = await run(path, 1, false);
    // The first batch, and its embeddings as the step saw them (a fresh net: same seed, batch statistics).
    const order = epochPermutation(split.count, config.seed, 0).subarray(0, 8);
    const batch = await data.read(order, mulberry32(streamSeed(config.seed, 'step 0')));
    assert.ok(new Set(batch.labels).size < batch.size, 'a class repeats in the batch');
    const { backbone, objective } = buildModels(config, { inputShape: [28, 28, 1], classCounts: [8, 8, 8] });
    const e = tf.tidy(() => backbone.apply(tf.tensor4d(batch.pixels, [8, 28, 28, 1]), true).arraySync() as number[][]);
    const Q0 = Array.from({ length: 3 }, (_, c) => Array.from(q0.subarray(c * 8, (c + 1) * 8)));
    const want = empiricalUpdateRef(Q0, e.map(hat), Array.from(batch.labels));
    const got = readCheckpoint<RunState>(path).objective.empirical_prototypes.values;
    assertClose(got, flat(want), 'Q after one step', 1e-4, 1e-5);
    // With the first sample of each class instead, the rows would differ.
    const firstWins = empiricalUpdateRef(Q0, e.map(hat).reverse(), Array.from(batch.labels).reverse());
    assert.ok(flat(firstWins).some((v, i) => Math.abs(v - got[i]) > 1e-3), 'the last write wins, not the first');
    objective.dispose();
    backbone.dispose();
  });

  it('resumes (into the epochs with the second block) to exactly the uninterrupted run', async () => {
    const straight = join(dir, 'straight.ckpt');
    const stopped = join(dir, 'stopped.ckpt');
    await run(straight, undefined, false);
    await run(stopped, 10, false); // 3 steps per epoch: stops inside epoch 4
    await run(stopped, undefined, true);
    const a = readCheckpoint<RunState>(straight);
    const b = readCheckpoint<RunState>(stopped);
    assert.equal(a.state.globalStep, 15);
    assert.deepEqual(Object.keys(a.objective), ['prototypes', 'empirical_prototypes']);
    for (const group of ['weights', 'objective', 'optimizer'] as const) {
      for (const name of Object.keys(a[group])) assert.deepEqual(b[group][name].values, a[group][name].values, `${group} ${name}`);
    }
    assert.deepEqual(b.state.history.map((h) => h.loss), a.state.history.map((h) => h.loss));
  });
});
