// The objectives on the wasm backend (what training runs on without the native packages) give the
// cpu backend's values and gradients: every kernel they use, gradients included, exists there.
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { bce3sLoss } from '../../../src/train/objectives/bce3s-loss.js';
import { classBalancedBceLoss, effectiveNumberWeights } from '../../../src/train/objectives/class-balanced-bce.js';
import { logitAdjustedCrossEntropy } from '../../../src/train/objectives/cross-entropy.js';
import { eplLoss } from '../../../src/train/objectives/epl-loss.js';
import type { MarginHead } from '../../../src/train/objectives/margin-heads.js';
import { assertClose, randomMatrix, randomVector, t1, t2, tfGradients } from './gradient-check.js';

const labels = Int32Array.from([1, 3, 1, 0]);
const C = 5;
const T = [[0, 0.4, 0.6, 0, 0], [0, 0, 0, 1, 0], [0, 0.4, 0, 0, 0.6], [0.4, 0, 0, 0, 0.6]];
const arrays = {
  X: randomMatrix(4, 6, 51), X2: randomMatrix(4, 6, 52), X3: randomMatrix(4, 6, 53),
  W: randomMatrix(C, 6, 54), b: randomVector(C, 55), w1: randomMatrix(6, 6, 56), b1: randomVector(6, 57),
  w2: randomMatrix(6, 3, 58), b2: randomVector(3, 59), M: randomMatrix(C, 3, 60), Q: randomMatrix(C, 6, 61),
};

type Case = [string, () => { value: number; grads: Record<string, number[]> }];

function cases(): Case[] {
  const inputs = () => ({ X: t2(arrays.X), W: t2(arrays.W), b: t1(arrays.b) });
  const out: Case[] = [
    ['bce3s', () => tfGradients({ ...inputs(), X2: t2(arrays.X2), X3: t2(arrays.X3), w1: t2(arrays.w1), b1: t1(arrays.b1), w2: t2(arrays.w2), b2: t1(arrays.b2) }, (x) =>
      bce3sLoss({
        features: { original: x.X as tf.Tensor2D, mixup: x.X2 as tf.Tensor2D, cutmix: x.X3 as tf.Tensor2D },
        labels, softTargets: t2(T), negativeMask: t2(T.map((r) => r.map((v) => (v === 0 ? 1 : 0)))),
        weight: x.W as tf.Tensor2D, bias: x.b as tf.Tensor1D,
        projector: { w1: x.w1 as tf.Tensor2D, b1: x.b1 as tf.Tensor1D, w2: x.w2 as tf.Tensor2D, b2: x.b2 as tf.Tensor1D },
        memory: t2(arrays.M), epoch: 2, classScores: [4, 0, 2, 3, 1],
      }, { r: 0.6 }).loss)],
    ['class-balanced bce', () => tfGradients(inputs(), (x) =>
      classBalancedBceLoss({ features: x.X as tf.Tensor2D, labels, weight: x.W as tf.Tensor2D, bias: x.b as tf.Tensor1D, classWeights: effectiveNumberWeights([50, 20, 9, 4, 1], 0.99), classScores: [4, 0, 2, 3, 1] }, { r: 0.6 }))],
    ['logit-adjusted ce', () => tfGradients({ X: t2(arrays.X.map((r) => r.slice(0, C))) }, (x) => logitAdjustedCrossEntropy(x.X as tf.Tensor2D, labels, [50, 20, 9, 4, 1]))],
  ];
  for (const head of ['cosface', 'arcface', 'uniface'] as MarginHead[]) {
    out.push([`epl ${head}`, () => tfGradients(inputs(), (x) =>
      eplLoss({ embeddings: x.X as tf.Tensor2D, labels, prototypes: x.W as tf.Tensor2D, empiricalPrototypes: t2(arrays.Q), epoch: 4, uniFaceBias: tf.sum(x.b) as tf.Scalar }, { head, margin: 0.4 }).loss)]);
  }
  return out;
}

describe('objectives on the wasm backend', () => {
  it('match the cpu backend, values and gradients', async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
    const onCpu = cases().map(([name, run]) => [name, run()] as const);
    await resolveTrainingBackend({ backend: 'wasm', log: () => {} });
    const onWasm = cases().map(([, run]) => run());
    onCpu.forEach(([name, cpu], i) => {
      assertClose([onWasm[i].value], [cpu.value], `${name}: loss`, 1e-5, 1e-6);
      for (const key of Object.keys(cpu.grads)) assertClose(onWasm[i].grads[key], cpu.grads[key], `${name}: d/d${key}`, 1e-4, 1e-5);
    });
  });
});
