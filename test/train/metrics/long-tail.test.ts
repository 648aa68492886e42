// Long-tail metrics on small cases worked out by hand.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classGroup, classifierStatistics, featureStatistics, longTailAccuracy, perClassAccuracy } from '../../../src/train/metrics/long-tail.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('long-tail metrics', () => {
  it('splits classes as the BCE3S evaluation does: Many > 100, Medium 20..100, Few < 20', () => {
    assert.deepEqual([5000, 101, 100, 20, 19, 1].map(classGroup), ['many', 'many', 'medium', 'medium', 'few', 'few']);
  });

  it('averages per-class accuracies over all classes and over each group', () => {
    const perClass = perClassAccuracy([0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 1], 4);
    // class 0: 1/1; class 1: samples 1 (right), 5 (wrong); class 2: samples 2 (wrong), 3, 4 (right); class 3: no sample.
    assert.deepEqual(perClass.slice(0, 3), [1, 0.5, 2 / 3]);
    assert.ok(Number.isNaN(perClass[3]));
    const lt = longTailAccuracy(perClass, [500, 50, 5, 7]);
    close(lt.classAveraged, (1 + 0.5 + 2 / 3) / 3);
    assert.deepEqual([lt.many, lt.medium], [1, 0.5]);
    close(lt.few, 2 / 3);
    assert.ok(Number.isNaN(longTailAccuracy([1, 1], [500, 500]).few), 'an empty group is NaN, not 0');
  });

  it('measures compactness to class means and the cosine between class means', () => {
    // class 0: (1,0), (0,1) -> mean (0.5,0.5), each at cosine 1/sqrt 2; class 1: (-1,0) alone, cosine 1.
    const s = featureStatistics([1, 0, 0, 1, -1, 0], [0, 0, 1], 3, 2);
    close(s.compactness, (Math.SQRT1_2 + 1) / 2);
    close(s.separability, -Math.SQRT1_2); // cos((0.5,0.5), (-1,0))
  });

  it('measures classifier norms and cosines within and between head and tail classes', () => {
    const s = classifierStatistics([3, 4, 0, 2, 1, 0, 0, -1], 4, 2, [200, 150, 10, 5]);
    assert.deepEqual(s.norms, [5, 2, 1, 1]);
    close(s.cosineHeadHead, 0.8); // (3,4).(0,2) / 10
    close(s.cosineTailTail, 0); // (1,0).(0,-1)
    close(s.cosineHeadTail, (0.6 - 0.8 + 0 - 1) / 4);
  });
});
