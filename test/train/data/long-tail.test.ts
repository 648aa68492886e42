// Long-tailed subsets: per-class counts equal those of the reference's Python code
// (fixtures/long-tail-counts.json, scripts/fixtures/make-long-tail-counts.py) over many class
// counts and ratios, and the subset keeps the first n_i images of each class in split order.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { longTailCounts, longTailSubset, type LongTailProfile } from '../../../src/train/data/long-tail.js';

const cases = JSON.parse(readFileSync(new URL('./fixtures/long-tail-counts.json', import.meta.url), 'utf8')) as {
  classes: number; maxPerClass: number; imbalance: number; profile: LongTailProfile; counts: number[];
}[];

describe('long-tailed subsets', () => {
  it(`per-class counts equal the reference's in all ${cases.length} cases`, () => {
    for (const c of cases) {
      assert.deepEqual(longTailCounts(c.classes, c.maxPerClass, { imbalance: c.imbalance, profile: c.profile }), c.counts, `${c.classes} classes, IF ${c.imbalance}, ${c.profile}`);
    }
    // The well-known CIFAR-10-LT IF 100 counts, and Fashion-MNIST-LT's total (~15k, issue 7).
    assert.deepEqual(longTailCounts(10, 5000, { imbalance: 100 }), [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
    assert.equal(longTailCounts(10, 6000, { imbalance: 100 }).reduce((a, b) => a + b), 14886);
  });

  it('reversed order gives the largest count to the last class; odd C keeps every class in step', () => {
    assert.deepEqual(longTailCounts(4, 100, { imbalance: 10, order: 'reversed' }), [10, 21, 46, 100]);
    assert.deepEqual(longTailCounts(5, 100, { imbalance: 10, profile: 'step' }), [100, 100, 10, 10, 10]);
    assert.throws(() => longTailCounts(4, 100, { imbalance: 0.5 }), /imbalance must be >= 1/);
    assert.throws(() => longTailCounts(4, 100, { imbalance: 2, profile: 'linear' as LongTailProfile }), /Unsupported profile: "linear"/);
  });

  it('keeps the first n_i images of each class, in the split\'s order', () => {
    // 3 classes x 4 images, interleaved; one byte per image holds its position.
    const labels = Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    const split = { images: Uint8Array.from(labels.keys()), labels, count: 12 };
    const { split: lt, classCounts } = longTailSubset(split, 3, 1, { imbalance: 4 });
    assert.deepEqual(classCounts, [4, 2, 1]); // 4 * (1/4)^(i/2)
    assert.deepEqual(Array.from(lt.images), [0, 1, 2, 3, 4, 6, 9]);
    assert.deepEqual(Array.from(lt.labels), [0, 1, 2, 0, 1, 0, 0]);
    const reversed = longTailSubset(split, 3, 1, { imbalance: 4, order: 'reversed' });
    assert.deepEqual(reversed.classCounts, [1, 2, 4]);
    assert.deepEqual(Array.from(reversed.split.images), [0, 1, 2, 4, 5, 8, 11]);
    assert.throws(() => longTailSubset(split, 3, 1, { imbalance: 4, maxPerClass: 5 }), /class 0 has 4 images, the long-tailed subset needs 5/);
  });
});
