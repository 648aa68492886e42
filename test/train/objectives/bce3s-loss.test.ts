// BCE3S stage 1 against the independent float64 reference (./reference.ts): every term, the
// clamp, partial negatives, soft targets, epoch gating, the memory's overwrite order, and the
// gradients of every input by central differences.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { bce3sLoss, type Bce3sInput } from '../../../src/train/objectives/bce3s-loss.js';
import { assertClose, flat, maxAbsDiff, numericalGradient, randomMatrix, randomVector, t1, t2, tfGradients } from './gradient-check.js';
import { bce3sRef, bceRef, type Bce3sRefInput, type Matrix } from './reference.js';

const B = 4;
const C = 6;
const d = 5;
const p = 3;

/** A batch in which class 1 occurs twice (rows 0 and 2), with soft targets of two kinds. */
function fixture(epoch: number, featureScale = 1): Bce3sRefInput {
  const labels = [1, 4, 1, 0];
  const second = [3, 4, 5, 3]; // x' labels; row 1 mixes class 4 with itself
  const lam = 0.3;
  const T: Matrix = labels.map((y, i) => Array.from({ length: C }, (_, c) => (c === y ? lam : 0) + (c === second[i] ? 1 - lam : 0)));
  return {
    orig: randomMatrix(B, d, 1, featureScale),
    mix: randomMatrix(B, d, 2, featureScale),
    cut: randomMatrix(B, d, 3, featureScale),
    labels,
    T,
    W: randomMatrix(C, d, 4),
    b: randomVector(C, 5, 0.5),
    g: { w1: randomMatrix(d, d, 6), b1: randomVector(d, 7, 0.1), w2: randomMatrix(d, p, 8), b2: randomVector(p, 9, 0.1) },
    M: randomMatrix(C, p, 10),
    epoch,
    // k = int(0.4 * 6) = 2 < 3 present classes: keeps the two lowest-indexed present ones (0, 1).
    perm: [2, 5, 0, 4, 1, 3],
  };
}

function tfInput(f: Bce3sRefInput, x: Record<string, tf.Tensor> = {}): Bce3sInput {
  const T = t2(f.T);
  return {
    features: {
      original: (x.orig ?? t2(f.orig)) as tf.Tensor2D,
      mixup: (x.mix ?? t2(f.mix)) as tf.Tensor2D,
      cutmix: (x.cut ?? t2(f.cut)) as tf.Tensor2D,
    },
    labels: Int32Array.from(f.labels),
    softTargets: T,
    negativeMask: tf.cast(tf.equal(T, 0), 'float32') as tf.Tensor2D,
    weight: (x.W ?? t2(f.W)) as tf.Tensor2D,
    bias: (x.b ?? t1(f.b)) as tf.Tensor1D,
    projector: {
      w1: (x.w1 ?? t2(f.g.w1)) as tf.Tensor2D,
      b1: (x.b1 ?? t1(f.g.b1)) as tf.Tensor1D,
      w2: (x.w2 ?? t2(f.g.w2)) as tf.Tensor2D,
      b2: (x.b2 ?? t1(f.g.b2)) as tf.Tensor1D,
    },
    memory: t2(f.M),
    epoch: f.epoch,
    classScores: f.perm,
  };
}

function terms(f: Bce3sRefInput, r?: number) {
  return tf.tidy(() => {
    const out = bce3sLoss(tfInput(f), r === undefined ? {} : { r });
    const read = (s: tf.Scalar) => s.dataSync()[0];
    return {
      loss: read(out.loss),
      scOriginal: read(out.terms.scOriginal),
      scMixup: read(out.terms.scMixup),
      scCutmix: read(out.terms.scCutmix),
      sc: read(out.terms.sc),
      ss: read(out.terms.ss),
      cc: read(out.terms.cc),
      memory: Array.from(out.memory.dataSync()),
    };
  });
}

describe('BCE3S stage 1', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });

  for (const epoch of [1, 2]) {
    it(`every term equals the float64 reference (epoch ${epoch})`, () => {
      const f = fixture(epoch);
      const got = terms(f);
      const want = bce3sRef(f);
      for (const name of ['scOriginal', 'scMixup', 'scCutmix', 'sc', 'ss', 'cc', 'loss'] as const) {
        assertClose([got[name]], [want[name]], name, 2e-6, 2e-6);
      }
      assertClose(got.memory, flat(want.memory), 'memory', 1e-5, 1e-6);
      if (epoch === 1) assert.equal(got.ss, 0, 'epoch 1 skips the contrastive term');
      else assert.ok(got.ss > 0.1, 'from epoch 2 the contrastive term counts');
    });
  }

  it('clamps the logits to +-64 (features large enough to pass it)', () => {
    const f = fixture(2, 200);
    const got = terms(f);
    const want = bce3sRef(f);
    assertClose([got.scMixup, got.scOriginal, got.loss], [want.scMixup, want.scOriginal, want.loss], 'clamped terms', 2e-6, 1e-5);
    // Without the clamp the mixup term would be far away: the test can see the clamp.
    const unclamped = bceRef(f.mix.map((x) => f.W.map(() => 0).map((_, c) => {
      const w = f.W[c];
      const n = Math.hypot(...w);
      return w.reduce((s, wj, j) => s + (wj / n) * x[j], 0) + f.b[c];
    })), f.T, f.T.map((row) => row.map((t) => (t === 0 ? 1 : 0))), Infinity);
    assert.ok(Math.abs(unclamped - got.scMixup) > 1, `clamp matters here (${unclamped} vs ${got.scMixup})`);
  });

  it('partial negatives change the original view\'s term (r = 0.4 vs all classes)', () => {
    const f = fixture(2);
    const partial = terms(f).scOriginal;
    const all = terms(f, 1).scOriginal;
    assertClose([all], [bce3sRef({ ...f, r: 1 }).scOriginal], 'r = 1', 2e-6, 2e-6);
    assert.ok(Math.abs(all - partial) > 0.1, `${all} vs ${partial}`);
  });

  it('memory: the last sample of a class wins; absent classes keep their row', () => {
    const f = fixture(2);
    const memory = terms(f).memory;
    const want = bce3sRef(f).memory;
    const row = (m: number[], c: number) => m.slice(c * p, (c + 1) * p);
    assertClose(row(memory, 1), want[1], 'class 1 = g(x_2)', 1e-5, 1e-6);
    // g(x_0) (the first sample of class 1) differs from g(x_2): first-write-wins would be caught.
    const first = bce3sRef({ ...f, orig: [f.orig[0]], labels: [1] }).memory[1];
    assert.ok(maxAbsDiff(row(memory, 1), first) > 0.05);
    for (const c of [2, 3, 5]) assert.deepEqual(row(memory, c), Array.from(Float32Array.from(f.M[c])), `class ${c} untouched`);
  });

  for (const epoch of [1, 2]) {
    it(`gradients of every input match central differences of the reference (epoch ${epoch})`, () => {
      const f = fixture(epoch);
      const inputs = {
        orig: t2(f.orig), mix: t2(f.mix), cut: t2(f.cut), W: t2(f.W), b: t1(f.b),
        w1: t2(f.g.w1), b1: t1(f.g.b1), w2: t2(f.g.w2), b2: t1(f.g.b2),
      };
      const { grads } = tfGradients(inputs, (x) => bce3sLoss(tfInput(f, x)).loss);
      const arrays: Record<string, Matrix | number[]> = {
        orig: f.orig, mix: f.mix, cut: f.cut, W: f.W, b: f.b, w1: f.g.w1, b1: f.g.b1, w2: f.g.w2, b2: f.g.b2,
      };
      for (const [name, values] of Object.entries(arrays)) {
        const numeric = numericalGradient(() => bce3sRef(f).loss, values);
        assertClose(grads[name], numeric, `d loss / d ${name}`, 1e-3, 1e-5);
      }
      // The projector is reached only through the contrastive term.
      if (epoch === 1) assert.ok(grads.w2.every((g) => g === 0), 'no projector gradient in epoch 1');
      else assert.ok(grads.w2.some((g) => Math.abs(g) > 1e-4));
    });
  }

  it('rejects a 0-based epoch and mismatched labels', () => {
    const f = fixture(1);
    assert.throws(() => bce3sLoss({ ...tfInput(f), epoch: 0 }), /1-based/);
    assert.throws(() => bce3sLoss({ ...tfInput(f), labels: Int32Array.from([1, 2]) }), /4 original features for 2 labels/);
  });
});
