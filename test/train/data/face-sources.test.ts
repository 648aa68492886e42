// Face training data: InsightFace's RecordIO (train.rec/.idx/property written by
// scripts/fixtures/make-face-records.py byte for byte as dmlc-core and mxnet.recordio write them,
// one record split around an embedded magic number) and identity folders holding the same JPEGs,
// against the pixels OpenCV decodes; the training source that streams them with flips.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../../src/seeded-random.js';
import { FaceFolderSource } from '../../../src/train/data/face-folder-source.js';
import type { FaceImageSource } from '../../../src/train/data/face-image-source.js';
import { FaceRecordSource } from '../../../src/train/data/face-record-source.js';
import { FaceTrainingSource } from '../../../src/train/data/face-training-source.js';
import { faceSetFormat, openFaceSet } from '../../../src/train/data/open-face-set.js';
import { RECORDIO_MAGIC, RecordFile, readRecordIndex, unpackRecord } from '../../../src/train/data/recordio.js';

const DIR = new URL('./fixtures/faces/', import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as { labels: number[]; side: number; identities: number; rgb_hex: string[] };

async function readAll(source: FaceImageSource) {
  const out = [];
  for (let i = 0; i < source.count; i++) out.push(await source.read(i));
  return out;
}

function assertPixels(got: Uint8Array, hex: string, what: string): void {
  const want = Buffer.from(hex, 'hex');
  assert.equal(got.length, want.length, what);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  // sharp (libvips) and OpenCV both decode with libjpeg-turbo; allow a rounding step anyway.
  assert.ok(worst <= 1, `${what}: pixels differ from OpenCV's by up to ${worst}`);
}

/** A record as dmlc-core writes one without the magic inside: header, payload, padding. */
function record(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(RECORDIO_MAGIC, 0);
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}

function irHeader(label: number): Buffer {
  const h = Buffer.alloc(24);
  h.writeFloatLE(label, 4);
  return h;
}

describe('MXNet RecordIO', () => {
  it('reads the index, joins a record split around the magic, unpacks IRHeaders', async () => {
    const { keys, offsets } = await readRecordIndex(join(DIR, 'train.idx'));
    assert.deepEqual(keys, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const file = await RecordFile.open(join(DIR, 'train.rec'));
    const header0 = unpackRecord(await file.read(offsets.get(0)!)).header;
    assert.equal(header0.flag, 2);
    assert.deepEqual(Array.from(header0.label as Float32Array), [7, 10]);
    const split = unpackRecord(await file.read(offsets.get(2)!));
    assert.equal(split.header.id, BigInt(RECORDIO_MAGIC), 'the magic re-inserted where the writer cut the record');
    assert.equal(split.header.label, 0);
    assert.deepEqual(Array.from(split.data.subarray(0, 2)), [0xff, 0xd8], 'a JPEG follows the header');
    const identity = unpackRecord(await file.read(offsets.get(8)!)).header;
    assert.deepEqual(Array.from(identity.label as Float32Array), [4, 5]);
    await assert.rejects(file.read(offsets.get(1)! + 4), /no RecordIO magic at byte 44/);
    await file.close();
  });

  it('face set: header record, property file, labels and pixels', async () => {
    const source = await FaceRecordSource.open(DIR);
    assert.equal(source.count, 6);
    assert.equal(source.numIdentities, 3);
    assert.deepEqual([source.height, source.width], [16, 16]);
    const faces = await readAll(source);
    assert.deepEqual(faces.map((f) => f.label), expected.labels);
    faces.forEach((f, i) => assertPixels(f.pixels, expected.rgb_hex[i], `record image ${i}`));
    await source.close();
  });

  it('without a property file the identities come from the header record; without either, from the labels', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rec-'));
    for (const f of ['train.rec', 'train.idx']) copyFileSync(join(DIR, f), join(dir, f));
    const source = await FaceRecordSource.open(dir, { height: 16, width: 16 });
    assert.equal(source.numIdentities, 3);
    await source.close();
    // A set with no header record: every record of the index is an image.
    const jpeg = readFileSync(join(DIR, 'faces', 'id01', '0.jpg'));
    const records = [record(Buffer.concat([irHeader(4), jpeg])), record(Buffer.concat([irHeader(0), jpeg]))];
    writeFileSync(join(dir, 'train.rec'), Buffer.concat(records));
    writeFileSync(join(dir, 'train.idx'), `0\t0\n1\t${records[0].length}\n`);
    const plain = await FaceRecordSource.open(dir, { height: 16, width: 16 });
    assert.equal(plain.count, 2);
    assert.equal(plain.numIdentities, 5);
    assert.deepEqual((await readAll(plain)).map((f) => f.label), [4, 0]);
    await plain.close();
  });

  it('says which files are missing', async () => {
    await assert.rejects(FaceRecordSource.open(tmpdir()), /train.rec not found; an InsightFace set holds train.rec and train.idx/);
  });
});

describe('identity folders', () => {
  it('give the same identities and pixels as the record file', async () => {
    const source = new FaceFolderSource(join(DIR, 'faces'), 16, 16);
    assert.deepEqual(source.identities, ['id00', 'id01', 'id02']);
    const faces = await readAll(source);
    assert.deepEqual(faces.map((f) => f.label), expected.labels);
    faces.forEach((f, i) => assertPixels(f.pixels, expected.rgb_hex[i], `folder image ${i}`));
  });
});

describe('face training source', () => {
  it('reads the asked images, mirrors about half from the step\'s random numbers, normalizes as InsightFace', async () => {
    const folder = new FaceFolderSource(join(DIR, 'faces'), 16, 16);
    const originals = await readAll(folder);
    const source = new FaceTrainingSource(folder);
    assert.deepEqual(Array.from(source.labels), expected.labels);
    assert.equal(source.classes, 3);
    assert.deepEqual(source.inputShape, [16, 16, 3]);
    const indices = [5, 0, 3, 3, 1, 2, 4, 0];
    const batch = await source.read(indices, mulberry32(7));
    assert.deepEqual(Array.from(batch.labels), indices.map((i) => expected.labels[i]));
    // The same random stream flips the same images: a resumed step reads the same batch.
    assert.deepEqual(await source.read(indices, mulberry32(7)), batch);
    const size = 16 * 16 * 3;
    const unit = (v: number) => (v / 255 - 0.5) / 0.5;
    let mirrored = 0;
    indices.forEach((at, i) => {
      const got = batch.pixels.subarray(i * size, (i + 1) * size);
      const o = originals[at].pixels;
      const same = o.every((v, p) => Math.abs(got[p] - unit(v)) < 1e-6);
      const flip = o.every((_, p) => {
        const c = p % 3;
        const x = Math.floor(p / 3) % 16;
        const y = Math.floor(p / 48);
        return Math.abs(got[p] - unit(o[(y * 16 + 15 - x) * 3 + c])) < 1e-6;
      });
      assert.ok(same || flip, `image ${i}: the original or its mirror, normalized`);
      if (!same) mirrored++;
    });
    assert.ok(mirrored > 0 && mirrored < indices.length, `${mirrored} of ${indices.length} mirrored`);
    const plain = await new FaceTrainingSource(folder, false).read(indices, mulberry32(7));
    indices.forEach((at, i) => {
      assert.ok(originals[at].pixels.every((v, p) => Math.abs(plain.pixels[i * size + p] - unit(v)) < 1e-6), `--no-flip: image ${i} as stored`);
    });
  });

  it('streams InsightFace records the same way, labels known at open from the identity records', async () => {
    const records = await FaceRecordSource.open(DIR);
    assert.deepEqual(Array.from(records.labels), expected.labels);
    assert.deepEqual(records.identities, ['0', '1', '2']);
    const batch = await new FaceTrainingSource(records, false).read([0, 3, 5], mulberry32(1));
    assert.deepEqual(Array.from(batch.labels), [0, 1, 2]);
    await records.close();
  });
});

describe('openFaceSet', () => {
  it('tells the layouts apart, and says what a face set folder must hold', async () => {
    assert.equal(faceSetFormat(DIR), 'recordio');
    assert.equal(faceSetFormat(join(DIR, 'faces')), 'folders');
    const folders = await openFaceSet(join(DIR, 'faces'), { height: 16, width: 16 });
    assert.deepEqual(folders.identities, ['id00', 'id01', 'id02']);
    assert.throws(() => faceSetFormat(join(DIR, 'nope')), /must hold identity folders \(<identity>\/\*\.jpg\) or InsightFace's train.rec \+ train.idx/);
  });
});
