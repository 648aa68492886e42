// Partial negatives: the present classes plus the lowest-scored others, int(r C) in all; ties
// (more zero-scored classes than k) broken by class index. Expected lists worked out by hand.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { partialClassCount, partialClassIndices, partialClassMask } from '../../../src/train/objectives/partial-classes.js';

describe('partial-class selection', () => {
  it('keeps the present classes and the lowest-scored absent ones', () => {
    // C = 10, r = 0.4 -> k = 4. Present: 7, 2. Scores after zeroing 2 and 7:
    // class:  0 1 2 3 4 5 6 7 8 9
    // score:  5 0 0 9 1 8 2 0 3 4   -> zeros {1, 2, 7} (1 drew 0), then 4 (score 1).
    const perm = [5, 0, 6, 9, 1, 8, 2, 7, 3, 4];
    assert.deepEqual(Array.from(partialClassIndices([7, 2, 7], 10, 0.4, perm)), [1, 2, 4, 7]);
  });

  it('when the zero-scored classes outnumber k, keeps the lowest class indices (present ones dropped)', () => {
    // k = int(0.3 * 10) = 3; present 9, 5, 8, 1 plus class 6 that drew 0: five zeros, keep 1, 5, 6.
    const perm = [3, 7, 2, 8, 4, 1, 0, 9, 5, 6];
    assert.deepEqual(Array.from(partialClassIndices([9, 5, 8, 1], 10, 0.3, perm)), [1, 5, 6]);
  });

  it('uses int(r C) with floating-point r as Python does', () => {
    assert.equal(partialClassCount(100, 0.4), 40);
    assert.equal(partialClassCount(10, 0.4), 4);
    assert.equal(partialClassCount(10, 1), 10);
    assert.equal(partialClassCount(3, 0.7), 2); // 2.1
    assert.throws(() => partialClassCount(10, 0.05), /int\(r \* C\) = int\(0.05 \* 10\) = 0/);
    assert.throws(() => partialClassCount(10, 1.5), /must be in 1..10/);
  });

  it('as a mask, and rejects labels outside the classes or a wrong number of scores', () => {
    assert.deepEqual(Array.from(partialClassMask([0], 4, 0.5, [3, 2, 0, 1])), [1, 0, 1, 0]);
    assert.throws(() => partialClassMask([4], 4, 0.5, [3, 2, 0, 1]), /label 4 is not a class of 0..3/);
    assert.throws(() => partialClassMask([0], 4, 0.5, [0, 1, 2]), /3 class scores for 4 classes/);
  });
});
