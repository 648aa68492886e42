import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { decodeFeature, encodeFeature, featurePath, readFeature, writeFeature } from '../../src/eval/feature-file.js';
import { FeatureFiles } from '../../src/eval/feature-source.js';

const dir = await mkdtemp(join(tmpdir(), 'protoserve-features-'));
after(() => rm(dir, { recursive: true, force: true }));

test('a float32 feature is written as the devkit writes it: (d, 1, 4, 5) then d floats', async () => {
  const path = featurePath(dir, 'Alice/Alice_1.png', '_algo.bin');
  assert.equal(path, join(dir, 'Alice/Alice_1.png_algo.bin'));
  await writeFeature(path, Float32Array.from([1.5, -2, 0.25]));
  const bytes = await readFile(path);
  const header = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 16));
  assert.deepEqual(Array.from(header), [3, 1, 4, 5]);
  assert.equal(bytes.length, 16 + 12);
  const back = await readFeature(path);
  assert.ok(back instanceof Float32Array);
  assert.deepEqual(Array.from(back), [1.5, -2, 0.25]);
});

test('float64 features keep every bit (type 6)', () => {
  const v = Float64Array.from([0.1, Math.PI, -1e-300]);
  const back = decodeFeature(encodeFeature(v));
  assert.ok(back instanceof Float64Array);
  assert.deepEqual(Array.from(back), Array.from(v));
});

test('a row matrix with padding in its stride reads its values only', () => {
  // 2 rows x 2 cols float32, stride 12 bytes (4 bytes of padding per row).
  const buf = Buffer.alloc(16 + 24);
  buf.writeInt32LE(2, 0);
  buf.writeInt32LE(2, 4);
  buf.writeInt32LE(12, 8);
  buf.writeInt32LE(5, 12);
  [1, 2].forEach((v, i) => buf.writeFloatLE(v, 16 + i * 4));
  [3, 4].forEach((v, i) => buf.writeFloatLE(v, 28 + i * 4));
  assert.deepEqual(Array.from(decodeFeature(buf)), [1, 2, 3, 4]);
});

test('truncated files and unknown types are FEATURE_FILE_INVALID (details say what), missing ones FEATURE_FILE_MISSING', async () => {
  const bytes = encodeFeature(Float32Array.from([1, 2, 3]));
  assert.throws(() => decodeFeature(bytes.subarray(0, 20)), { code: 'FEATURE_FILE_INVALID', details: { problem: 'truncated', bytes: 20, needed: 28 } });
  assert.throws(() => decodeFeature(bytes.subarray(0, 10)), { code: 'FEATURE_FILE_INVALID', details: { problem: 'no header', bytes: 10, needed: 16 } });
  const bad = Uint8Array.from(bytes);
  new DataView(bad.buffer).setInt32(12, 0, true);
  assert.throws(() => decodeFeature(bad), { code: 'FEATURE_FILE_INVALID', details: { problem: 'matrix type', type: 0 } });
  await assert.rejects(readFeature(join(dir, 'nope.bin')), { code: 'FEATURE_FILE_MISSING' });
});

test('FeatureFiles stacks features in request order and rejects mixed dimensions', async () => {
  await writeFeature(featurePath(dir, 'm/a.jpg'), Float32Array.from([1, 2]));
  await writeFeature(featurePath(dir, 'm/b.jpg'), Float64Array.from([3, 4]));
  const source = new FeatureFiles(dir);
  const req = (p: string) => ({ image: p, feature: p });
  const m = await source.features([req('m/b.jpg'), req('m/a.jpg')], 'sum');
  assert.equal(m.dim, 2);
  assert.deepEqual(Array.from(m.data), [3, 4, 1, 2]);
  await writeFile(featurePath(dir, 'm/c.jpg'), encodeFeature(Float32Array.from([1, 2, 3])));
  await assert.rejects(source.features([req('m/a.jpg'), req('m/c.jpg')], 'sum'), { code: 'FEATURE_DIMENSION' });
});
