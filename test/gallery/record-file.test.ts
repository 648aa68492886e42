import assert from 'node:assert/strict';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { encodeRecord, readRecords, RecordLog, writeRecordFile, type GalleryRecord } from '../../src/gallery/record-file.js';
import { tempDir } from '../infer/tiny-models.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const records: GalleryRecord[] = [
  { header: { op: 'identity.create', id: 'alice', seq: 1, metadata: { role: 'x' } } },
  { header: { op: 'faces.add', id: 'alice', faces: [{ id: 'f1' }] }, vectors: new Float32Array([0.25, -0.5, 1e-7]) },
  { header: { op: 'identity.delete', id: 'bob' } },
];

async function readAll(path: string) {
  const out: GalleryRecord[] = [];
  const result = await readRecords(path, (r) => out.push(r));
  return { out, ...result };
}

test('frames: magic, length, checksum, JSON header and float32 values round-trip exactly', async () => {
  const frame = encodeRecord(records[1]);
  assert.equal(frame.toString('latin1', 0, 4), 'PGR1');
  assert.equal(frame.readUInt32LE(4), frame.length - 12);
  // The values sit at the end of the frame, little-endian float32, bit for bit.
  assert.equal(frame.readFloatLE(frame.length - 12), 0.25);
  assert.equal(frame.readFloatLE(frame.length - 4), Math.fround(1e-7));
  const path = join(dir, 'one.wal');
  await writeFile(path, Buffer.concat(records.map(encodeRecord)));
  const { out, validBytes, fileBytes } = await readAll(path);
  assert.equal(validBytes, fileBytes);
  assert.deepEqual(out, records.map((r) => (r.vectors ? r : { header: r.header })));
});

test('a file cut anywhere reads back the whole records before the cut, and nothing else', async () => {
  const bytes = Buffer.concat(records.map(encodeRecord));
  const ends = records.map((_, i) => Buffer.concat(records.slice(0, i + 1).map(encodeRecord)).length);
  const path = join(dir, 'cut.wal');
  // Every byte around each frame boundary and inside the frame headers, and a stride elsewhere.
  const cuts = new Set<number>([bytes.length]);
  for (const end of [0, ...ends]) for (let c = end - 3; c <= end + 16; c++) if (c >= 0 && c <= bytes.length) cuts.add(c);
  for (let c = 0; c < bytes.length; c += 7) cuts.add(c);
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    await writeFile(path, bytes.subarray(0, cut));
    const { out, validBytes } = await readAll(path);
    const whole = ends.filter((e) => e <= cut).length;
    assert.equal(out.length, whole, `cut at ${cut}`);
    assert.equal(validBytes, whole === 0 ? 0 : ends[whole - 1]);
  }
});

test('a damaged byte (checksum) or garbage after the last record stops the reader there', async () => {
  const bytes = Buffer.concat(records.map(encodeRecord));
  const second = encodeRecord(records[0]).length;
  const damaged = Buffer.from(bytes);
  damaged[second + 20] ^= 0x40;
  const path = join(dir, 'bad.wal');
  await writeFile(path, damaged);
  assert.equal((await readAll(path)).out.length, 1);
  await writeFile(path, Buffer.concat([bytes, Buffer.alloc(100, 0)]));
  const { out, validBytes, fileBytes } = await readAll(path);
  assert.equal(out.length, 3);
  assert.equal(fileBytes - validBytes, 100);
});

test('RecordLog: appends resolve once synced, concurrent appends share syncs, openAt cuts a torn tail', async () => {
  const path = join(dir, 'log.wal');
  const log = await RecordLog.create(path);
  await Promise.all(Array.from({ length: 50 }, (_, i) => log.append([{ header: { op: 'identity.create', id: `p${i}`, seq: i + 1 } }])));
  await log.close();
  const { out } = await readAll(path);
  assert.deepEqual(out.map((r) => r.header.id), Array.from({ length: 50 }, (_, i) => `p${i}`));
  // A crash in the middle of the next append leaves half a frame.
  const size = (await stat(path)).size;
  await writeFile(path, Buffer.concat([await readFile(path), encodeRecord(records[1]).subarray(0, 30)]));
  const { validBytes } = await readAll(path);
  assert.equal(validBytes, size);
  const reopened = await RecordLog.openAt(path, validBytes);
  await reopened.append([records[2]]);
  await reopened.close();
  const after = await readAll(path);
  assert.equal(after.out.length, 51);
  assert.equal(after.validBytes, after.fileBytes);
  await assert.rejects(RecordLog.create(path), { code: 'EEXIST' });
});

test('writeRecordFile writes all or nothing under the final name', async () => {
  const path = join(dir, 'snap.snap');
  await writeRecordFile(path, records);
  assert.equal((await readAll(path)).out.length, 3);
  function* failing(): Generator<GalleryRecord> {
    yield records[0];
    throw new Error('disk full');
  }
  await assert.rejects(writeRecordFile(join(dir, 'never.snap'), failing()), /disk full/);
  await assert.rejects(stat(join(dir, 'never.snap')), { code: 'ENOENT' });
  await truncate(path, 5);
  assert.equal((await readAll(path)).out.length, 0);
});
