// Baselines: softmax CE and logit-adjusted CE (tau = 1) against the float64 reference, with
// gradients, on logits large enough that a naive softmax would overflow in float32.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { logitAdjustedCrossEntropy, logPriorOffsets, softmaxCrossEntropy } from '../../../src/train/objectives/cross-entropy.js';
import { assertClose, numericalGradient, randomMatrix, t2, tfGradients } from './gradient-check.js';
import { crossEntropyRef } from './reference.js';

describe('cross-entropy baselines', () => {
  before(async () => {
    await resolveTrainingBackend({ backend: 'cpu', log: () => {} });
  });
  const Z = randomMatrix(4, 5, 31, 3);
  Z[1][2] = 120; // exp(120) overflows float32
  const labels = [0, 2, 4, 4];
  const counts = [500, 200, 50, 10, 2];

  it('softmax CE: value and gradient', () => {
    const { value, grads } = tfGradients({ Z: t2(Z) }, (x) => softmaxCrossEntropy(x.Z as never, Int32Array.from(labels)));
    assertClose([value], [crossEntropyRef(Z, labels)], 'loss', 1e-6, 1e-6);
    assertClose(grads.Z, numericalGradient(() => crossEntropyRef(Z, labels), Z), 'gradient', 1e-3, 1e-5);
  });

  it('logit-adjusted CE adds log priors in training: value and gradient', () => {
    const { value, grads } = tfGradients({ Z: t2(Z) }, (x) => logitAdjustedCrossEntropy(x.Z as never, Int32Array.from(labels), counts));
    const ref = () => crossEntropyRef(Z, labels, counts);
    assertClose([value], [ref()], 'loss', 1e-6, 1e-6);
    assertClose(grads.Z, numericalGradient(ref, Z), 'gradient', 1e-3, 1e-5);
    assert.ok(Math.abs(ref() - crossEntropyRef(Z, labels)) > 0.5, 'the adjustment changes the loss here');
  });

  it('log prior offsets: tau log(n_c / N)', () => {
    assertClose(logPriorOffsets([3, 1], 1), [Math.log(0.75), Math.log(0.25)], 'tau 1', 1e-7, 0);
    assertClose(logPriorOffsets([3, 1], 2), [2 * Math.log(0.75), 2 * Math.log(0.25)], 'tau 2', 1e-7, 0);
    assert.throws(() => logPriorOffsets([3, 0]), /class counts must be positive, got 0 for class 1/);
  });
});
