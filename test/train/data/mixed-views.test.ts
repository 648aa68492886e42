// BCE3S's mixed views: mixup values, the cutmix box of the reference's rand_bbox (worked out by
// hand), soft targets T = lam Y + (1 - lam) Y' shared by both views, N = [T == 0].
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mixedViews } from '../../../src/train/data/mixed-views.js';

/** A generator that returns the given values in order. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => values[i++];
}

describe('mixed views', () => {
  // 2 images of 8x8x1: x is all 1 (image 0) / 2 (image 1), x' all 10 / 20.
  const H = 8;
  const x = Float32Array.from({ length: 128 }, (_, i) => (i < 64 ? 1 : 2));
  const x2 = Float32Array.from({ length: 128 }, (_, i) => (i < 64 ? 10 : 20));

  it('mixup = lam x + (1 - lam) x\'; cutmix pastes the reference\'s box of x\' into x', () => {
    // lam 0.75: cut = ceil(8 * 0.5) = 4, half 2; cy = floor(0.1 * 8) = 0 -> rows [0, 2);
    // cx = floor(0.99 * 8) = 7 -> columns [5, 8) (clipped at 8).
    const v = mixedViews(x, x2, [0, 1], [2, 1], 3, H, H, 1, scripted([0.75, 0.1, 0.99]));
    assert.equal(v.lam, 0.75);
    assert.deepEqual(v.box, { y1: 0, y2: 2, x1: 5, x2: 8 });
    assert.equal(v.mixup[0], 0.75 * 1 + 0.25 * 10);
    assert.equal(v.mixup[64], 0.75 * 2 + 0.25 * 20);
    for (let n = 0; n < 2; n++) {
      for (let y = 0; y < H; y++) {
        for (let c = 0; c < H; c++) {
          const inBox = y < 2 && c >= 5;
          const want = inBox ? (n === 0 ? 10 : 20) : n === 0 ? 1 : 2;
          assert.equal(v.cutmix[n * 64 + y * H + c], want, `image ${n} (${y}, ${c})`);
        }
      }
    }
    // T: image 0 mixes class 0 (0.75) with class 2 (0.25); image 1 is class 1 in both batches.
    assert.deepEqual(Array.from(v.softTargets), [0.75, 0, 0.25, 0, 1, 0]);
    assert.deepEqual(Array.from(v.negativeMask), [0, 1, 0, 1, 0, 1]);
    // x itself is untouched.
    assert.equal(x[5], 1);
  });

  it('a centred box of odd side: 2 * (cut // 2) pixels, as the reference', () => {
    // lam 0.5: cut = ceil(8 * 0.7071) = 6 -> half 3; centre (4, 4) -> [1, 7) in both axes.
    const v = mixedViews(x, x2, [0, 1], [0, 1], 3, H, H, 1, scripted([0.5, 0.5, 0.5]));
    assert.deepEqual(v.box, { y1: 1, y2: 7, x1: 1, x2: 7 });
    assert.deepEqual(Array.from(v.softTargets), [1, 0, 0, 0, 1, 0]);
  });

  it('refuses batches of different sizes', () => {
    assert.throws(() => mixedViews(x, x2.subarray(0, 64), [0, 1], [0, 1], 3, H, H, 1, Math.random), /batches of 128 and 64 values/);
  });
});
