// Losses left on the backend are read back in step order, with each step's own terms, in one
// transfer, and nothing stays allocated.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { PendingLosses } from '../../src/train/pending-losses.js';

before(() => resolveTrainingBackend({ backend: 'cpu', log: () => {} }));

describe('PendingLosses', () => {
  test('hands back every step in order, terms by name, and frees the tensors', () => {
    const start = tf.memory().numTensors;
    const pending = new PendingLosses();
    pending.push({ values: tf.tensor1d([0.5, 0.25, 0.125]), terms: ['ce', 'soft'] });
    pending.push({ values: tf.tensor1d([2]), terms: [] });
    pending.push({ values: tf.tensor1d([3, 4]), terms: ['ce'] });
    assert.equal(pending.size, 3);
    const seen: Array<[number, Record<string, number>]> = [];
    pending.read((loss, terms) => seen.push([loss, terms]));
    assert.deepEqual(seen, [[0.5, { ce: 0.25, soft: 0.125 }], [2, {}], [3, { ce: 4 }]]);
    assert.equal(pending.size, 0);
    pending.read(() => assert.fail('nothing is pending'));
    assert.equal(tf.memory().numTensors, start);
  });

  test('is due after enough steps or after the interval, never when empty', async () => {
    const pending = new PendingLosses();
    assert.equal(pending.due(2, 0), false, 'empty');
    pending.push({ values: tf.tensor1d([1]), terms: [] });
    assert.equal(pending.due(2, 60_000), false);
    assert.equal(pending.due(1, 60_000), true, 'enough steps');
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(pending.due(2, 1), true, 'interval passed');
    pending.dispose();
    assert.equal(pending.size, 0);
  });
});
