// BCE3S and logit-adjusted CE through the objective contract, against the independent float64
// reference (./reference.ts): the views prepare builds from a batch and its partner, the loss of
// both stages with the rows and class scores prepare chose, the memory update, which variables
// each stage trains, MaxNorm with the threshold measured when stage 2 began (and kept across a
// checkpoint round trip), and the exported head hat(W)^T, b.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../../src/seeded-random.js';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import type { Batch } from '../../../src/train/data/batches.js';
import type { NamedWeights } from '../../../src/train/nets/net.js';
import { Bce3s } from '../../../src/train/objectives/bce3s.js';
import { LogitAdjustedCrossEntropy } from '../../../src/train/objectives/logit-adjusted-ce.js';
import type { LossContext, PreparedStep, StepTensors } from '../../../src/train/objectives/objective.js';
import { buildObjective } from '../../../src/train/objectives/registry.js';
import { assertClose, flat, randomMatrix, randomVector } from './gradient-check.js';
import { bce3sRef, classBalancedBceRef, crossEntropyRef, hat, logitsRef, type Matrix } from './reference.js';

const B = 4;
const C = 6;
const d = 5;
const p = 3;
const SIDE = 4; // 4x4x1 images
const counts = [300, 120, 40, 9, 3, 1];

const rows = (values: ArrayLike<number>, width: number): Matrix =>
  Array.from({ length: values.length / width }, (_, r) => Array.from({ length: width }, (_, c) => values[r * width + c]));

function batchOf(labels: number[], seed: number): Batch {
  return { pixels: Float32Array.from(flat(randomMatrix(labels.length, SIDE * SIDE, seed))), labels: Int32Array.from(labels), size: labels.length };
}

/** The objective with known weights: W, b, projector and memory from the reference's fixtures. */
function objectiveWith(ref: { W: Matrix; b: number[]; g: { w1: Matrix; b1: number[]; w2: Matrix; b2: number[] }; M: Matrix }, settings = {}) {
  const o = new Bce3s({ features: d, classes: C, classCounts: counts, seed: 3, inputShape: [SIDE, SIDE, 1] }, { projectionDim: p, ...settings });
  const w = o.getWeights();
  const put = (name: string, m: Matrix | number[]) => (w[name] = { shape: w[name].shape, values: Float32Array.from(flat(m)) });
  put('classifier.weight', ref.W);
  put('classifier.bias', ref.b);
  put('projector.w1', ref.g.w1);
  put('projector.b1', ref.g.b1);
  put('projector.w2', ref.g.w2);
  put('projector.b2', ref.g.b2);
  put('memory', ref.M);
  o.setWeights(w);
  return o;
}

const fixture = {
  W: randomMatrix(C, d, 4),
  b: randomVector(C, 5, 0.5),
  g: { w1: randomMatrix(d, d, 6), b1: randomVector(d, 7, 0.1), w2: randomMatrix(d, p, 8), b2: randomVector(p, 9, 0.1) },
  M: randomMatrix(C, p, 10),
};

/** The step's tensors as the loop builds them, with `features` standing for the backbone's output. */
function stepTensors(prepared: PreparedStep, features: Matrix[]): StepTensors {
  return {
    features: features.map((f) => tf.tensor2d(f)),
    labels: tf.tensor1d(prepared.labels, 'int32'),
    labelValues: prepared.labels,
    rows: Object.fromEntries(Object.entries(prepared.rows).map(([k, r]) => [k, tf.tensor2d(r.values, [prepared.size, r.width])])),
    shared: prepared.shared,
  };
}

const ctx = (stage: string, epoch: number): LossContext => ({ stage, epoch, gather: (t) => t });
const read = (s: tf.Scalar) => s.dataSync()[0];

describe('bce3s objective', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });

  const batch = batchOf([1, 4, 1, 0], 11);
  const partner = batchOf([3, 4, 5, 3], 12); // row 1 mixes class 4 with itself

  async function prepareJoint(o: Bce3s) {
    const random = mulberry32(99);
    let drawn = 0;
    const prepared = await o.prepare(batch, {
      stage: 'joint',
      epoch: 2,
      random,
      drawBatch: async (size) => {
        drawn += size;
        return partner;
      },
    });
    return { prepared, drawn };
  }

  it('joint: prepare builds [original; mixup; cutmix] with one lam, soft targets and a permutation of the classes', async () => {
    const o = objectiveWith(fixture);
    const { prepared, drawn } = await prepareJoint(o);
    const n = B * SIDE * SIDE;
    assert.equal(drawn, B, 'one partner per image');
    assert.deepEqual([prepared.views, prepared.size, prepared.inputs.length], [3, B, 3 * n]);
    assert.deepEqual(Array.from(prepared.inputs.subarray(0, n)), Array.from(batch.pixels), 'the original view first, as it is');
    const lam = prepared.shared.lam as number;
    assert.ok(lam > 0 && lam < 1);
    assertClose(prepared.inputs.subarray(n, 2 * n), batch.pixels.map((x, i) => lam * x + (1 - lam) * partner.pixels[i]), 'mixup view', 1e-6, 1e-6);
    const cut = prepared.inputs.subarray(2 * n);
    assert.ok(Array.from(cut).every((v, i) => v === batch.pixels[i] || v === partner.pixels[i]), 'cutmix pastes pixels of x\'');
    const T = rows(prepared.rows.softTargets.values, C);
    assertClose(T.flat(), [
      [0, lam, 0, 1 - lam, 0, 0],
      [0, 0, 0, 0, 1, 0],
      [0, lam, 0, 0, 0, 1 - lam],
      [lam, 0, 0, 1 - lam, 0, 0],
    ].flat(), 'T = lam Y + (1 - lam) Y\'', 1e-6, 1e-7);
    assert.deepEqual(Array.from(prepared.rows.negativeMask.values), T.flat().map((t) => (t === 0 ? 1 : 0)), 'N = [T == 0]');
    assert.deepEqual([...(prepared.shared.classScores as number[])].sort(), [0, 1, 2, 3, 4, 5]);
    o.dispose();
  });

  for (const [epoch, r] of [[2, 0.4], [1, 0.4], [2, 1]] as const) {
    it(`joint: the loss, its terms and the memory update equal the reference (epoch ${epoch}, r ${r})`, async () => {
      const o = objectiveWith(fixture, { r });
      const { prepared } = await prepareJoint(o);
      const [orig, mix, cut] = [randomMatrix(B, d, 21), randomMatrix(B, d, 22), randomMatrix(B, d, 23)];
      const out = o.loss(stepTensors(prepared, [orig, mix, cut]), ctx('joint', epoch));
      const ref = bce3sRef({
        orig, mix, cut,
        labels: Array.from(batch.labels),
        T: rows(prepared.rows.softTargets.values, C),
        ...fixture,
        epoch,
        perm: [...(prepared.shared.classScores as number[])],
        r,
      });
      assertClose([read(out.loss), read(out.terms.sc), read(out.terms.ss), read(out.terms.cc)], [ref.loss, ref.sc, ref.ss, ref.cc], 'loss, sc, ss, cc', 1e-5, 1e-6);
      if (epoch === 1) assert.equal(read(out.terms.ss), 0, 'no contrastive term in epoch 1');
      assert.equal(out.updates.length, 1);
      assertClose(out.updates[0].value.dataSync(), ref.memory.flat(), 'memory after the step', 1e-5, 1e-6);
      o.dispose();
    });
  }

  it('rebalance: one view, the class-balanced BCE of the reference, W and b alone train', async () => {
    const o = objectiveWith(fixture);
    assert.equal(o.trainableVariables('joint').length, 6, 'joint: W, b and the projector\'s four tensors');
    assert.deepEqual(o.trainableVariables('rebalance').map((v) => v.shape), [[C, d], [C]]);
    let drawn = false;
    const prepared = await o.prepare(batch, { stage: 'rebalance', epoch: 1, random: mulberry32(5), drawBatch: async () => ((drawn = true), partner) });
    assert.equal(drawn, false, 'no partner batch in stage 2');
    assert.deepEqual([prepared.views, Array.from(prepared.inputs)], [1, Array.from(batch.pixels)]);
    const X = randomMatrix(B, d, 31, 20);
    const out = o.loss(stepTensors(prepared, [X]), ctx('rebalance', 1));
    const ref = classBalancedBceRef(X, Array.from(batch.labels), fixture.W, fixture.b, counts, 0.99999, [...(prepared.shared.classScores as number[])], 0.4);
    assertClose([read(out.loss)], [ref], 'stage 2 loss', 1e-5, 1e-6);
    assert.deepEqual(out.updates, []);
    o.dispose();
  });

  it('MaxNorm: the threshold measured when stage 2 begins, kept in the checkpoint, applied at each epoch end', () => {
    const o = objectiveWith(fixture);
    const norms = fixture.W.map((w) => Math.hypot(...w));
    const t = Math.min(...norms) + 0.1 * (Math.max(...norms) - Math.min(...norms));
    o.endEpoch({ stage: 'joint', epoch: 1 });
    assertClose(o.getWeights()['classifier.weight'].values, Float32Array.from(fixture.W.flat()), 'stage 1 epochs do not project', 0, 0);
    o.beginStage('rebalance');
    assertClose([o.maxNormThreshold()], [t], 'threshold', 1e-6, 0);
    // Training moves W (here: every row doubled); the threshold stays the one measured at the start.
    const moved: NamedWeights = o.getWeights();
    moved['classifier.weight'] = { shape: [C, d], values: Float32Array.from(fixture.W.flat().map((v) => 2 * v)) };
    const restored = objectiveWith(fixture);
    restored.setWeights(moved);
    restored.endEpoch({ stage: 'rebalance', epoch: 1 });
    const projected = rows(restored.getWeights()['classifier.weight'].values, d);
    const expected = fixture.W.map((w) => {
      const n = 2 * Math.hypot(...w);
      return w.map((v) => (2 * v * Math.min(n, t)) / n);
    });
    assertClose(projected.flat(), expected.flat(), 'rows capped at the stored threshold', 1e-5, 1e-7);
    assertClose(restored.getWeights()['classifier.bias'].values, fixture.b, 'b is not projected', 1e-7, 0);
    assert.throws(() => objectiveWith(fixture).endEpoch({ stage: 'rebalance', epoch: 1 }), /no MaxNorm threshold/);
    o.dispose();
    restored.dispose();
  });

  it('exports hat(W)^T and b, so the served logits are hat(w_c) . x + b_c', () => {
    const o = objectiveWith(fixture);
    const head = o.inferenceHead();
    assert.equal(head.kind, 'linear');
    if (head.kind !== 'linear') return;
    const X = randomMatrix(3, d, 41);
    const z = X.map((x) => Array.from({ length: C }, (_, c) => head.bias[c] + x.reduce((s, v, k) => s + v * head.weight[k * C + c], 0)));
    assertClose(z.flat(), logitsRef(X, fixture.W, fixture.b).flat(), 'logits', 1e-5, 1e-6);
    assertClose(Array.from({ length: C }, (_, c) => Math.hypot(...Array.from({ length: d }, (_, k) => head.weight[k * C + c]))), Array(C).fill(1), 'unit columns', 1e-6, 0);
    assert.deepEqual(fixture.W.map(hat).flat().length, C * d);
    o.dispose();
  });

  it('refuses settings and data it cannot train with', () => {
    const base = { features: d, classes: 10, classCounts: Array(10).fill(5), seed: 1, inputShape: [SIDE, SIDE, 1] as [number, number, number] };
    assert.throws(() => new Bce3s(base, { r: 0.05 }), /int\(r \* C\) >= 1/);
    assert.throws(() => new Bce3s(base, { beta: 1 }), /beta must be in \[0, 1\)/);
    assert.throws(() => new Bce3s({ ...base, classCounts: [5, 0, ...Array(8).fill(5)] }), /class 1 has no training image/);
    assert.throws(() => buildObjective('bce3s', base, { tau: 1 }), /"tau" does not apply to bce3s \(it is an option of logit-adjusted-ce\)/);
    assert.equal(buildObjective('bce3s', base, {}).hyperparameters.r, 0.4, 'defaults filled in');
  });
});

describe('logit-adjusted-ce objective', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });

  it('trains on z + tau log(prior) (the reference for tau 1; plain CE for tau 0) and exports the raw logits', () => {
    const X = randomMatrix(B, d, 51);
    const labels = Int32Array.from([0, 5, 2, 2]);
    for (const tau of [1, 0]) {
      const o = new LogitAdjustedCrossEntropy({ features: d, classes: C, seed: 2, classCounts: counts }, { tau });
      const w = o.getWeights();
      const W = rows(w['classifier.weight'].values, d);
      const b = Array.from(w['classifier.bias'].values);
      const Z = X.map((x) => W.map((row, c) => b[c] + row.reduce((s, v, k) => s + v * x[k], 0)));
      const prepared: PreparedStep = { inputs: new Float32Array(0), views: 1, size: B, labels, rows: {}, shared: {} };
      const out = o.loss(stepTensors(prepared, [X]));
      assertClose([read(out.loss)], [crossEntropyRef(Z, Array.from(labels), tau === 1 ? counts : undefined)], `tau ${tau}`, 1e-5, 1e-6);
      const head = o.inferenceHead();
      if (head.kind === 'linear') assertClose(head.bias, b, 'raw bias exported', 0, 0);
      assert.deepEqual(o.hyperparameters, { tau });
      o.dispose();
    }
  });
});
