// EPL on CosFace, ArcFace and UniFace heads against the independent float64 reference: loss
// values, the empirical-prototype update (before the loss, one scatter, last write wins, hard
// samples), epoch gating of the second block, the heads without EPL, and gradients by central
// differences with the detached quantities held at their values.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { eplCriterion } from '../../../src/train/objectives/epl-criterion.js';
import { eplLoss, marginLoss } from '../../../src/train/objectives/epl-loss.js';
import { updateEmpiricalPrototypes } from '../../../src/train/objectives/empirical-prototypes.js';
import { uniFaceBiasInit, type MarginHead } from '../../../src/train/objectives/margin-heads.js';
import { assertClose, flat, maxAbsDiff, numericalGradient, randomMatrix, t2, tfGradients } from './gradient-check.js';
import { empiricalUpdateRef, eplRef, hat, type Matrix } from './reference.js';

const C = 4;
const labels = [2, 0, 2, 3, 2]; // class 2 three times; class 1 absent
const MARGIN: Record<MarginHead, number> = { cosface: 0.4, arcface: 0.5, uniface: 0.4 };

function fixture() {
  const X = randomMatrix(5, 3, 41, 2);
  const W = randomMatrix(C, 3, 42);
  const Q = randomMatrix(C, 3, 43, 0.8); // rows not unit length
  // Sample 3 is a hard sample for its class: Q[3] points away from it (s < 0, f < 0).
  Q[3] = hat(X[3]).map((v) => -2 * v);
  return { X, W, Q, b: uniFaceBiasInit(C) };
}

const clone = (m: Matrix) => m.map((r) => r.slice());

function tfEpl(f: ReturnType<typeof fixture>, head: MarginHead, epoch: number, x: Record<string, tf.Tensor> = {}) {
  return eplLoss(
    {
      embeddings: (x.X ?? t2(f.X)) as tf.Tensor2D,
      labels: Int32Array.from(labels),
      prototypes: (x.W ?? t2(f.W)) as tf.Tensor2D,
      empiricalPrototypes: t2(f.Q),
      epoch,
      uniFaceBias: (x.b ?? tf.scalar(f.b)) as tf.Scalar,
    },
    { head, margin: MARGIN[head] },
  );
}

function refEpl(f: ReturnType<typeof fixture>, head: MarginHead, epoch: number, epl = true, anchor = { X: clone(f.X), W: clone(f.W) }) {
  return eplRef({ X: f.X, W: f.W, b: f.b }, anchor, f.Q, labels, { head, s: 64, m: MARGIN[head], k: 0.7, epoch, epl });
}

describe('EPL', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });

  it('updates Q from Q as it was: one scatter, the last sample of a class wins, hard samples pulled through', () => {
    const f = fixture();
    const q = tf.tidy(() => Array.from(updateEmpiricalPrototypes(t2(f.Q), t2(f.X.map(hat)), Int32Array.from(labels)).dataSync()));
    const want = empiricalUpdateRef(f.Q, f.X.map(hat), labels);
    assertClose(q, flat(want), 'Q', 1e-5, 1e-6);
    // The hard sample: s = -2, f = -2/3, hat(-2/3 * -2e + 5/3 e) = e.
    assertClose(q.slice(9, 12), hat(f.X[3]), 'hard sample row', 1e-5, 1e-6);
    // Class 1 had no sample: unchanged.
    assertClose(q.slice(3, 6), f.Q[1], 'absent class', 0, 1e-7);
    // A loop in which later samples see earlier updates gives another row for class 2.
    const loop = clone(f.Q);
    labels.forEach((y, i) => {
      loop[y] = empiricalUpdateRef(loop, [hat(f.X[i])], [y])[y];
    });
    assert.ok(maxAbsDiff(q.slice(6, 9), loop[2]) > 0.01, 'scatter differs from a sequential loop here');
    // And the first sample of class 2 would give yet another one.
    assert.ok(maxAbsDiff(q.slice(6, 9), empiricalUpdateRef(f.Q, [hat(f.X[0])], [2])[2]) > 0.01);
  });

  for (const head of ['cosface', 'arcface', 'uniface'] as MarginHead[]) {
    for (const epoch of [1, 3, 4]) {
      it(`${head}, epoch ${epoch}: loss and updated Q equal the reference`, () => {
        const f = fixture();
        const { loss, q } = tf.tidy(() => {
          const out = tfEpl(f, head, epoch);
          return { loss: out.loss.dataSync()[0], q: Array.from(out.empiricalPrototypes.dataSync()) };
        });
        const want = refEpl(f, head, epoch);
        assertClose([loss], [want.loss], 'loss', 1e-5, 1e-5);
        assertClose(q, flat(want.Q), 'Q', 1e-5, 1e-6);
      });
    }

    it(`${head}: the second block starts at epoch 4; before it, the loss is the head without EPL`, () => {
      const f = fixture();
      const value = (epoch: number) => tf.tidy(() => tfEpl(f, head, epoch).loss.dataSync()[0]);
      const baseline = tf.tidy(() =>
        marginLoss(
          { embeddings: t2(f.X), labels: Int32Array.from(labels), prototypes: t2(f.W), uniFaceBias: tf.scalar(f.b) },
          { head, margin: MARGIN[head] },
        ).dataSync()[0],
      );
      assertClose([baseline], [refEpl(f, head, 1, false).loss], 'baseline', 1e-5, 1e-5);
      assert.equal(value(1), baseline);
      assert.equal(value(3), baseline);
      assert.ok(Math.abs(value(4) - baseline) > 1e-2, `${value(4)} vs ${baseline}`);
    });

    for (const epoch of [1, 4]) {
      it(`${head}, epoch ${epoch}: gradients match central differences with detached parts held fixed`, () => {
        const f = fixture();
        const anchor = { X: clone(f.X), W: clone(f.W) };
        const inputs: Record<string, tf.Tensor> = { X: t2(f.X), W: t2(f.W) };
        if (head === 'uniface') inputs.b = tf.scalar(f.b);
        const { grads } = tfGradients(inputs, (x) => tfEpl(f, head, epoch, x).loss);
        const ref = () => refEpl(f, head, epoch, true, anchor).loss;
        assertClose(grads.X, numericalGradient(ref, f.X), 'd/dX', 2e-3, 1e-4);
        assertClose(grads.W, numericalGradient(ref, f.W), 'd/dW', 2e-3, 1e-4);
        if (head === 'uniface') {
          const bias = [f.b];
          const db = numericalGradient(() => {
            f.b = bias[0];
            return ref();
          }, bias);
          f.b = bias[0];
          assertClose(grads.b, db, 'd/db', 2e-3, 1e-4);
        }
      });
    }
  }

  it('detached parts are constants for the gradient (ArcFace margin, adaptive margin k)', () => {
    for (const head of ['arcface', 'cosface'] as MarginHead[]) {
      const f = fixture();
      const { grads } = tfGradients({ X: t2(f.X) }, (x) => tfEpl(f, head, 4, x).loss);
      // Differentiating through everything (anchor = the live inputs) is another gradient.
      const undetached = numericalGradient(() => refEpl(f, head, 4, true, { X: f.X, W: f.W }).loss, f.X);
      assert.ok(maxAbsDiff(grads.X, undetached) > 0.05, `${head}: ${maxAbsDiff(grads.X, undetached)}`);
    }
  });

  it('ArcFace: a sample exactly on its prototype (cos = 1) gives a finite loss and gradient', () => {
    const f = fixture();
    f.X[1] = f.W[0].map((v) => 3 * v);
    const { value, grads } = tfGradients({ X: t2(f.X), W: t2(f.W) }, (x) => tfEpl(f, 'arcface', 4, x).loss);
    // float32 clamps at 1 - 1.19e-7 rather than 1 - 1e-7: a small difference at the label.
    assertClose([value], [refEpl(f, 'arcface', 4).loss], 'loss', 1e-4, 1e-4);
    assert.ok([...grads.X, ...grads.W].every(Number.isFinite));
  });

  it('UniFace clamps both terms at +-s (a learned bias far below 0, a sample opposite its prototype)', () => {
    const f = fixture();
    f.b = -10; // s c - b passes s = 64 for cosines above 0.85
    f.X[1] = f.W[0].map((v) => -v); // cos -1 with its own prototype: s (c - m) - b = -79.6
    f.X[2] = f.W[1].map((v) => v); // cos 1 with class 1, a negative of sample 2: 64 + 10 = 74
    for (const epoch of [1, 4]) {
      const { value, grads } = tfGradients({ X: t2(f.X), W: t2(f.W), b: tf.scalar(f.b) }, (x) => tfEpl(f, 'uniface', epoch, x).loss);
      const anchor = { X: clone(f.X), W: clone(f.W) };
      assertClose([value], [refEpl(f, 'uniface', epoch).loss], 'loss', 1e-5, 1e-5);
      assertClose(grads.X, numericalGradient(() => refEpl(f, 'uniface', epoch, true, anchor).loss, f.X), 'd/dX', 2e-3, 1e-4);
    }
  });

  it('the Q update passes no gradient to the embeddings', () => {
    const f = fixture();
    const e = t2(f.X.map(hat));
    const g = tf.grad((x: tf.Tensor) => tf.sum(updateEmpiricalPrototypes(t2(f.Q), x as tf.Tensor2D, Int32Array.from(labels))))(e);
    assert.ok(Array.from(g.dataSync()).every((v) => v === 0));
  });

  it('the EPL criterion is computed stably where the float32 product overflows', () => {
    // Row: positive z_y = -89.6 (cos -1, m 0.4, s 64), negatives at 64 and 10.
    const z = [[-89.6, 64, 10]];
    const naive = Math.fround(Math.fround(Math.exp(64) + Math.exp(10)) * Math.fround(Math.exp(89.6)));
    assert.equal(naive, Infinity, 'the direct float32 evaluation overflows');
    const want = Math.log1p((Math.exp(64) + Math.exp(10)) * Math.exp(89.6)); // float64: finite
    const got = tf.tidy(() => eplCriterion(tf.tensor2d(z), tf.tensor2d([[1, 0, 0]])).dataSync()[0]);
    assertClose([got], [want], 'criterion', 1e-6, 0);
    // A row with no negatives costs nothing.
    assert.equal(tf.tidy(() => eplCriterion(tf.tensor2d([[3]]), tf.tensor2d([[1]])).dataSync()[0]), 0);
  });

  it('refuses UniFace without its bias, a 0-based epoch and mismatched labels', () => {
    const f = fixture();
    const base = { embeddings: t2(f.X), labels: Int32Array.from(labels), prototypes: t2(f.W), empiricalPrototypes: t2(f.Q), epoch: 1 };
    assert.throws(() => eplLoss(base, { head: 'uniface', margin: 0.4 }), /uniface head needs its learned bias/);
    assert.throws(() => eplLoss({ ...base, epoch: 0 }, { head: 'cosface', margin: 0.4 }), /1-based/);
    assert.throws(() => eplLoss({ ...base, labels: Int32Array.from([0]) }, { head: 'cosface', margin: 0.4 }), /5 embeddings for 1 labels/);
    assert.throws(() => eplLoss(base, { head: 'sphereface' as MarginHead, margin: 0.4 }), /Unsupported head: "sphereface"/);
  });
});
