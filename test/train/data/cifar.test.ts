// CIFAR readers against fixtures in the datasets' exact formats, written by Python (pickle with
// numpy, as Python 2's cPickle wrote the real files, and plain byte records) with the expected
// labels and NHWC pixel hashes computed by numpy: scripts/fixtures/make-cifar-files.py.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadCifar, planarToNhwc } from '../../../src/train/data/cifar.js';
import type { ImageSplit } from '../../../src/train/data/image-dataset.js';

const FIXTURES = new URL('./fixtures/cifar/', import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, { labels?: number[]; fine?: number[]; coarse?: number[]; sha256: string[] }>;

function hashes(split: ImageSplit): string[] {
  const size = 32 * 32 * 3;
  return Array.from({ length: split.count }, (_, i) => createHash('sha256').update(split.images.subarray(i * size, (i + 1) * size)).digest('hex'));
}

const CIFAR10_TRAIN = [1, 2, 3, 4, 5].map((i) => expected[`cifar10/data_batch_${i}`]);

describe('CIFAR-10', () => {
  for (const folder of ['cifar-10-batches-bin', 'cifar-10-batches-py']) {
    it(`reads ${folder} (given the folder or its parent)`, () => {
      for (const dir of [FIXTURES, join(FIXTURES, folder)]) {
        if (dir === FIXTURES && folder.endsWith('py')) continue; // the parent holds both: binary wins
        const d = loadCifar(dir, { variant: 'cifar10' });
        assert.equal(d.train.count, 6);
        assert.deepEqual(Array.from(d.train.labels), CIFAR10_TRAIN.flatMap((b) => b.labels!));
        assert.deepEqual(hashes(d.train), CIFAR10_TRAIN.flatMap((b) => b.sha256));
        assert.deepEqual(Array.from(d.test.labels), expected['cifar10/test_batch'].labels);
        assert.deepEqual(hashes(d.test), expected['cifar10/test_batch'].sha256);
        assert.equal(d.classNames[9], 'truck');
        assert.deepEqual([d.height, d.width, d.channels], [32, 32, 3]);
        assert.equal(d.mean.length, 3);
        assert.match(d.source, folder.endsWith('bin') ? /binary version, 6\/2/ : /python version, 6\/2/);
      }
    });
  }

  it('says which files it expected, and refuses truncated binary batches', () => {
    assert.throws(() => loadCifar(tmpdir(), { variant: 'cifar10' }), /no CIFAR files in .*cifar-10-batches-bin\/data_batch_1.bin.*cifar-10-batches-py\/data_batch_1/);
    const dir = mkdtempSync(join(tmpdir(), 'cifar-'));
    cpSync(join(FIXTURES, 'cifar-10-batches-bin'), dir, { recursive: true });
    truncateSync(join(dir, 'data_batch_3.bin'), 3000);
    assert.throws(() => loadCifar(dir, { variant: 'cifar10' }), /data_batch_3.bin: 3000 bytes is not a whole number of 3073-byte cifar10 records/);
  });
});

describe('CIFAR-100', () => {
  for (const folder of ['cifar-100-binary', 'cifar-100-python']) {
    it(`reads ${folder}, fine and coarse labels`, () => {
      const fine = loadCifar(join(FIXTURES, folder), { variant: 'cifar100' });
      assert.deepEqual(Array.from(fine.train.labels), expected['cifar100/train'].fine);
      assert.deepEqual(Array.from(fine.test.labels), expected['cifar100/test'].fine);
      assert.deepEqual(hashes(fine.train), expected['cifar100/train'].sha256);
      assert.deepEqual(hashes(fine.test), expected['cifar100/test'].sha256);
      assert.equal(fine.classNames.length, 100);
      assert.equal(fine.classNames[1], 'fine_01');
      const coarse = loadCifar(join(FIXTURES, folder), { variant: 'cifar100', labelSet: 'coarse' });
      assert.deepEqual(Array.from(coarse.train.labels), expected['cifar100/train'].coarse);
      assert.equal(coarse.classNames.length, 20);
      assert.equal(coarse.name, 'cifar100-coarse');
    });
  }
});

describe('planar to NHWC', () => {
  it('interleaves the red, green and blue planes', () => {
    const planar = new Uint8Array(3072);
    planar[0] = 1; // R of pixel (0, 0)
    planar[1024 + 33] = 2; // G of pixel (1, 1)
    planar[2048 + 1023] = 3; // B of pixel (31, 31)
    const nhwc = planarToNhwc(planar, 1);
    assert.equal(nhwc[0], 1);
    assert.equal(nhwc[(32 + 1) * 3 + 1], 2);
    assert.equal(nhwc[1023 * 3 + 2], 3);
    assert.equal(nhwc.reduce((a, b) => a + b, 0), 6);
  });
});
