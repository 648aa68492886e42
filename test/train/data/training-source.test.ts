import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageDataset } from '../../../src/train/data/image-dataset.js';
import { InMemorySource, uniformSampler } from '../../../src/train/data/training-source.js';
import { mulberry32 } from '../../../src/seeded-random.js';

// Three 2x2 grey images with pixel values i*10 + p, normalized with mean 0, std 1 (x = p/255).
const dataset: ImageDataset = {
  name: 'tiny',
  height: 2,
  width: 2,
  channels: 1,
  classNames: ['a', 'b'],
  mean: [0],
  std: [1],
  train: { images: Uint8Array.from({ length: 12 }, (_, k) => Math.floor(k / 4) * 10 + (k % 4)), labels: Int32Array.from([1, 0, 1]), count: 3 },
  test: { images: new Uint8Array(0), labels: new Int32Array(0), count: 0 },
  source: 'test',
};

describe('in-memory training source', () => {
  it('reads the images at the given positions, normalized, with their labels', async () => {
    const source = new InMemorySource(dataset, dataset.train);
    assert.deepEqual([source.count, source.classes, source.inputShape], [3, 2, [2, 2, 1]]);
    const batch = await source.read([2, 0], mulberry32(1));
    assert.deepEqual(Array.from(batch.labels), [1, 1]);
    assert.deepEqual(Array.from(batch.pixels, (v) => Math.round(v * 255)), [20, 21, 22, 23, 0, 1, 2, 3]);
  });

  it('crops and flips from the random stream it is given, the same way every time', async () => {
    const source = new InMemorySource(dataset, dataset.train, { padding: 1, flip: true });
    const a = await source.read([0, 1, 2], mulberry32(7));
    const b = await source.read([0, 1, 2], mulberry32(7));
    assert.deepEqual(a.pixels, b.pixels);
    const plain = await new InMemorySource(dataset, dataset.train).read([0, 1, 2], mulberry32(7));
    assert.notDeepEqual(a.pixels, plain.pixels, 'padding 1 on a 2x2 image moves or blanks pixels');
    // Every output pixel is a pixel of the same image or the zero padding.
    for (let n = 0; n < 3; n++) {
      for (const v of a.pixels.subarray(n * 4, n * 4 + 4)) {
        const p = Math.round(v * 255);
        assert.ok(p === 0 || (p >= n * 10 && p < n * 10 + 4), `image ${n}: ${p}`);
      }
    }
  });

  it('samples partner positions uniformly within the set', () => {
    const drawn = Array.from(uniformSampler(3).sample(3000, mulberry32(3)));
    assert.ok(drawn.every((i) => i >= 0 && i < 3));
    for (let i = 0; i < 3; i++) {
      const share = drawn.filter((d) => d === i).length / 3000;
      assert.ok(Math.abs(share - 1 / 3) < 0.04, `position ${i}: ${share}`);
    }
  });
});
