// Image folders: classes in sorted order, exact pixels of lossless PNGs, resizing to the fixed
// size, grey or RGB, a train/test layout or a per-class held-out tail.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadImageFolder } from '../../../src/train/data/image-folder.js';

/** A 4x4 RGB PNG whose pixels are all (v, 2v, 3v) but pixel (0, 0) = (255, 0, 0). */
async function png(path: string, v: number, side = 4): Promise<void> {
  const raw = Buffer.alloc(side * side * 3);
  for (let i = 0; i < side * side; i++) raw.set([v, 2 * v, 3 * v], 3 * i);
  raw.set([255, 0, 0], 0);
  writeFileSync(path, await sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer());
}

describe('image folder', () => {
  let flat = '';
  let split = '';
  before(async () => {
    flat = mkdtempSync(join(tmpdir(), 'folder-'));
    // 'dog' sorts after 'cat'; 5 cat images, 2 dog images; a stray text file is ignored.
    for (const [cls, n] of [['dog', 2], ['cat', 5]] as const) {
      mkdirSync(join(flat, cls));
      for (let i = 0; i < n; i++) await png(join(flat, cls, `${i}.png`), 10 * i + (cls === 'dog' ? 1 : 2));
    }
    writeFileSync(join(flat, 'cat', 'notes.txt'), 'not an image');
    split = mkdtempSync(join(tmpdir(), 'folder-'));
    for (const part of ['train', 'test']) {
      for (const cls of ['a', 'b']) {
        mkdirSync(join(split, part, cls), { recursive: true });
        await png(join(split, part, cls, 'x.png'), part === 'train' ? 5 : 7, 8);
      }
    }
  });

  it('labels classes in sorted order and holds out the last images of each class', async () => {
    const d = await loadImageFolder(flat, { height: 4, width: 4, channels: 3, testFraction: 0.4 });
    assert.deepEqual(d.classNames, ['cat', 'dog']);
    // cat: 5 images, floor(0.4 * 5) = 2 held out; dog: floor(0.8) = 0.
    assert.deepEqual(Array.from(d.train.labels), [0, 0, 0, 1, 1]);
    assert.deepEqual(Array.from(d.test.labels), [0, 0]);
    const px = (images: Uint8Array, n: number, p: number) => Array.from(images.subarray(n * 48 + 3 * p, n * 48 + 3 * p + 3));
    assert.deepEqual(px(d.train.images, 0, 0), [255, 0, 0]);
    assert.deepEqual(px(d.train.images, 1, 5), [12, 24, 36]); // cat/1.png
    assert.deepEqual(px(d.test.images, 1, 1), [42, 84, 126]); // cat/4.png
    assert.deepEqual(px(d.train.images, 4, 1), [11, 22, 33]); // dog/1.png
    assert.equal(d.mean.length, 3);
  });

  it('decodes grey at another size, and uses train/ and test/ when present', async () => {
    const grey = await loadImageFolder(flat, { height: 2, width: 2, channels: 1 });
    assert.equal(grey.train.images.length, grey.train.count * 4);
    const d = await loadImageFolder(split, { height: 8, width: 8, channels: 3 });
    assert.deepEqual(d.classNames, ['a', 'b']);
    assert.deepEqual([d.train.count, d.test.count], [2, 2]);
    assert.deepEqual(Array.from(d.test.images.subarray(3, 6)), [7, 14, 21]);
  });

  it('says what it expected', async () => {
    await assert.rejects(loadImageFolder(mkdtempSync(join(tmpdir(), 'empty-')), { height: 4, width: 4, channels: 3 }), /no class folders; expected .*\/<class>\/\*.png\|jpg/);
  });
});
