// The minimal unpickler on pickles written by Python itself (scripts/fixtures/make-cifar-files.py):
// Python 2 style (CIFAR's own files), and Python 3's protocols 2 and 4; and what it refuses.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { planarToNhwc } from '../../../src/train/data/cifar.js';
import { dictGet, isNumpyArray, toIntArray, toStringList, unpickle } from '../../../src/train/data/python-pickle.js';

const FIXTURES = new URL('./fixtures/cifar/', import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8'));

describe('python pickle reader', () => {
  for (const protocol of [2, 4]) {
    it(`reads a dict of bytes keys, a list of ints and a uint8 numpy array (Python 3, protocol ${protocol})`, () => {
      const dict = unpickle(readFileSync(join(FIXTURES, `python3-protocol${protocol}.pkl`)));
      assert.deepEqual(Array.from(toIntArray(dictGet(dict, 'labels'), 'labels')), expected.python3.labels);
      const data = dictGet(dict, 'data');
      assert.ok(isNumpyArray(data));
      assert.deepEqual(data.shape, [2, 3072]);
      assert.equal(data.dtype, 'u1');
      const nhwc = planarToNhwc(data.bytes, 2);
      const sha = [0, 1].map((i) => createHash('sha256').update(nhwc.subarray(i * 3072, (i + 1) * 3072)).digest('hex'));
      assert.deepEqual(sha, expected.python3.sha256);
    });
  }

  it('reads Python 2 style str keys, names and metadata (CIFAR\'s batches.meta)', () => {
    const meta = unpickle(readFileSync(join(FIXTURES, 'cifar-10-batches-py', 'batches.meta')));
    assert.equal(dictGet(meta, 'num_cases_per_batch'), 10000);
    assert.deepEqual(toStringList(dictGet(meta, 'label_names'), 'names').slice(0, 2), ['airplane', 'automobile']);
  });

  it('refuses other globals and truncated input', () => {
    // pickle.dumps(os.system, protocol=2): a global this reader will not resolve.
    const evil = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cposix\nsystem\nq\x00.', 'latin1')]);
    assert.throws(() => unpickle(evil, 'evil.pkl'), /evil.pkl: unsupported pickle global posix.system/);
    const batch = readFileSync(join(FIXTURES, 'cifar-10-batches-py', 'data_batch_1'));
    assert.throws(() => unpickle(batch.subarray(0, 500), 'cut'), /cut: truncated pickle/);
    assert.throws(() => unpickle(Buffer.from([0x80, 0x05, 0x2e])), /protocol 5 is not supported/);
  });
});
