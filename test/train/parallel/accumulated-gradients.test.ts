// Gradient accumulation computes the gradients of one big batch: N micro-batches, summed with
// their share of the samples, against the whole batch in one pass (batch norm on its moving
// averages, so that only the splitting differs), including an objective whose buffer update
// needs every sample of the batch (EPL's empirical prototypes, through ctx.gather).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { AccumulatedGradients } from '../../../src/train/parallel/accumulated-gradients.js';
import { shardBounds } from '../../../src/train/parallel/prepared-shard.js';
import { assertSameGradients, bigBatch, disposeGradients, referenceGradients } from './one-big-batch.js';

describe('gradient accumulation', () => {
  before(async () => {
    await resolveTrainingBackend({ log: () => {} });
  });

  it('splits a batch into even, non-empty micro-batches in order', () => {
    assert.deepEqual(shardBounds(10, 3), [[0, 3], [3, 6], [6, 10]]);
    assert.deepEqual(shardBounds(2, 4), [[0, 1], [1, 2]]);
  });

  for (const objective of ['softmax-ce', 'epl'] as const) {
    for (const micro of [3, 5]) {
      it(`${objective}: ${micro} micro-batches give the gradients, loss and buffer updates of the whole batch`, async () => {
        const b = await bigBatch(objective);
        const expected = referenceGradients(b);
        const actual = new AccumulatedGradients(b.backbone, b.objective, micro).compute(b.variables, b.prepared, b.position, { training: false });
        if (objective === 'epl') assert.equal(expected.updates.length, 1, 'EPL updates its empirical prototypes');
        assertSameGradients(actual, expected);
        disposeGradients(actual);
        disposeGradients(expected);
        b.objective.dispose();
        b.backbone.dispose();
      });
    }
  }

  it('leaves batch norm moving averages as the gradient passes alone move them (the gathering pass is undone)', async () => {
    const b = await bigBatch('epl');
    const before = b.backbone.getWeights();
    const g = new AccumulatedGradients(b.backbone, b.objective, 3).compute(b.variables, b.prepared, b.position);
    const after = b.backbone.getWeights();
    // Reference: the three micro-batches' forward passes alone, on a fresh copy of the weights.
    const c = await bigBatch('epl');
    c.backbone.setWeights(before);
    for (const [s, e] of shardBounds(12, 3)) {
      const x = tf.tensor4d(b.prepared.inputs.slice(s * 784, e * 784), [e - s, 28, 28, 1]);
      c.backbone.apply(x, true).dispose();
      x.dispose();
    }
    const expected = c.backbone.getWeights();
    for (const name of Object.keys(after).filter((n) => n.endsWith('running_mean'))) {
      assert.notDeepEqual(after[name].values, before[name].values, `${name} moved`);
      assert.deepEqual(after[name].values, expected[name].values, name);
    }
    disposeGradients(g);
    for (const m of [b, c]) {
      m.objective.dispose();
      m.backbone.dispose();
    }
  });
});
