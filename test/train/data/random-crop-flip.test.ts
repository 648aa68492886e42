// Random crop with zero padding and horizontal flip: exact pixels for given offsets, the flip
// applied after the crop, offsets spread over 0..2p, and reproducibility by seed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cropPadded, randomCropFlip } from '../../../src/train/data/random-crop-flip.js';
import { mulberry32 } from '../../../src/seeded-random.js';

// 3x3 single-channel image 1..9.
const image = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);

function crop(dy: number, dx: number, mirror = false): number[] {
  const out = new Uint8Array(9);
  cropPadded(image, out, 3, 3, 1, 1, dy, dx, mirror);
  return Array.from(out);
}

describe('random crop and flip', () => {
  it('crops the zero-padded image at (dy, dx)', () => {
    assert.deepEqual(crop(1, 1), [1, 2, 3, 4, 5, 6, 7, 8, 9]); // centre: unchanged
    assert.deepEqual(crop(0, 0), [0, 0, 0, 0, 1, 2, 0, 4, 5]); // top-left corner of the padded image
    assert.deepEqual(crop(2, 1), [4, 5, 6, 7, 8, 9, 0, 0, 0]);
    assert.deepEqual(crop(1, 2), [2, 3, 0, 5, 6, 0, 8, 9, 0]);
  });

  it('flips after cropping', () => {
    const flipRows = (a: number[]) => [0, 1, 2].flatMap((r) => a.slice(3 * r, 3 * r + 3).reverse());
    for (const [dy, dx] of [[0, 0], [1, 2], [2, 1]]) assert.deepEqual(crop(dy, dx, true), flipRows(crop(dy, dx)));
  });

  it('keeps channels together', () => {
    const rgb = Uint8Array.from([1, 2, 3, 4, 5, 6]); // 1x2, 3 channels
    const out = new Uint8Array(6);
    cropPadded(rgb, out, 1, 2, 3, 0, 0, 0, true);
    assert.deepEqual(Array.from(out), [4, 5, 6, 1, 2, 3]);
  });

  it('draws offsets over 0..2p and flips about half the images, reproducibly', () => {
    const n = 2000;
    const batch = new Uint8Array(n * 9);
    for (let i = 0; i < n; i++) batch.set(image, 9 * i);
    const a = randomCropFlip(batch, n, 3, 3, 1, { padding: 1, flip: true }, mulberry32(5));
    const b = randomCropFlip(batch, n, 3, 3, 1, { padding: 1, flip: true }, mulberry32(5));
    assert.deepEqual(a, b);
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const key = Array.from(a.subarray(9 * i, 9 * i + 9)).join(',');
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    assert.equal(seen.size, 18, '9 offsets x 2 flips, all distinct images here');
    for (const count of seen.values()) assert.ok(Math.abs(count / n - 1 / 18) < 0.02, `${count}`);
    const noFlip = randomCropFlip(batch, n, 3, 3, 1, { padding: 1, flip: false }, mulberry32(5));
    for (let i = 0; i < n; i++) assert.notEqual(noFlip[9 * i + 2] === 1 && noFlip[9 * i] !== 1, true);
  });
});
