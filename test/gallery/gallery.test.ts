// One gallery on disk: prototypes, recovery from torn logs and interrupted snapshots, export.
import assert from 'node:assert/strict';
import { appendFile, copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { FaissStore } from '../../src/gallery/faiss-store.js';
import { Gallery, GALLERY_FORMAT, readSnapshot, type GalleryMeta } from '../../src/gallery/gallery.js';
import type { GalleryStore } from '../../src/gallery/gallery-store.js';
import { prototypeOf } from '../../src/gallery/identity.js';
import { encodeRecord } from '../../src/gallery/record-file.js';
import { tempDir } from '../infer/tiny-models.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

function meta(name: string): GalleryMeta {
  return { format: GALLERY_FORMAT, version: 1, name, model: { name: 'm', version: '1', sha256: 'a'.repeat(64), dimension: 3 }, index: { kind: 'exact' }, created: '2026-01-01T00:00:00.000Z', metadata: {} };
}
const source = { sha256: 'b'.repeat(64), image: 0, face: 0 };
const face = (...v: number[]) => ({ embedding: Float32Array.from(v), source });
const quiet = { warn: () => {} };

test('an identity\'s prototype is the normalized mean of its embeddings; a seed counts for its images', () => {
  const f = (...v: number[]) => ({ id: 'x', created: '', source, embedding: Float32Array.from(v) });
  // (1,0,0) + (0,1,0) -> (1,1,0)/sqrt(2)
  assert.deepEqual(Array.from(prototypeOf({ faces: [f(1, 0, 0), f(0, 1, 0)] }, 3) ?? []), [Math.fround(Math.SQRT1_2), Math.fround(Math.SQRT1_2), 0]);
  // seed (0,0,1) for 3 images + face (1,0,0) -> (1,0,3)/sqrt(10)
  const p = prototypeOf({ faces: [f(1, 0, 0)], seed: { vector: Float32Array.from([0, 0, 1]), images: 3 } }, 3) ?? [];
  assert.deepEqual(Array.from(p), [1 / Math.sqrt(10), 0, 3 / Math.sqrt(10)].map(Math.fround));
  assert.equal(prototypeOf({ faces: [] }, 3), undefined);
  assert.equal(prototypeOf({ faces: [f(1, 0, 0), f(-1, 0, 0)] }, 3), undefined, 'embeddings that cancel have no direction');
});

test('changes survive a reopen; a torn record at the end of the log is cut, with a warning', async () => {
  const path = join(dir, 'torn');
  let g = await Gallery.create(path, meta('torn'), quiet);
  await g.createIdentity('alice', { team: 'a' });
  const [kept] = await g.addFaces('alice', [face(1, 0, 0)]);
  await g.createIdentity('bob');
  await g.addFaces('bob', [face(0, 1, 0), face(0, 1, 1)]);
  await g.updateIdentity('bob', { desk: 4 });
  await g.deleteFace('bob', g.identity('bob').faces[1].id);
  await g.close();
  // A crash in the middle of the next write.
  const log = (await readdir(path)).find((f) => f.endsWith('.wal')) as string;
  await appendFile(join(path, log), encodeRecord({ header: { op: 'faces.add', id: 'alice', faces: [] }, vectors: new Float32Array(3) }).subarray(0, 25));
  const warnings: string[] = [];
  g = await Gallery.open(path, { warn: (l) => warnings.push(l) });
  assert.match(warnings.join('\n'), /cut 25 bytes of a record written when the process stopped/);
  assert.deepEqual(g.identity('alice').faces.map((f) => f.id), [kept.id]);
  assert.deepEqual(g.identity('bob').metadata, { desk: 4 });
  assert.equal(g.identity('bob').faces.length, 1);
  const [hits] = await g.search(Float32Array.from([0, 1, 0]), 2);
  assert.deepEqual(hits.map((h) => [h.identity.id, h.similarity]), [['bob', 1], ['alice', 0]]);
  // Writing goes on after the cut.
  await g.createIdentity('carol');
  await g.close();
  g = await Gallery.open(path, quiet);
  assert.deepEqual([...['alice', 'bob', 'carol']].map((id) => g.has(id)), [true, true, true]);
  await g.close();
});

test('snapshots: a full log starts a new generation; an interrupted snapshot falls back to the logs', async () => {
  const path = join(dir, 'snap');
  let g = await Gallery.create(path, meta('snap'), { ...quiet, checkpointBytes: 1 << 30 });
  for (let i = 0; i < 20; i++) {
    await g.createIdentity(`p${i}`);
    await g.addFaces(`p${i}`, [face(1, i, 0)]);
  }
  await g.checkpoint();
  assert.deepEqual((await readdir(path)).sort(), ['gallery.json', 'log-1.wal', 'snapshot-1.snap']);
  await g.addFaces('p3', [face(0, 0, 1)]);
  await g.deleteIdentity('p4');
  await g.close();
  // A crash during the next checkpoint: log-2 created, snapshot-2 half written.
  const snapshot = await readFile(join(path, 'snapshot-1.snap'));
  await writeFile(join(path, 'snapshot-2.snap'), snapshot.subarray(0, snapshot.length - 40));
  await writeFile(join(path, 'log-2.wal'), '');
  const warnings: string[] = [];
  g = await Gallery.open(path, { warn: (l) => warnings.push(l) });
  assert.match(warnings.join('\n'), /snapshot-2\.snap is incomplete/);
  assert.equal(g.identityCount, 19);
  assert.equal(g.identity('p3').faces.length, 2);
  assert.ok(!g.has('p4'));
  await g.addFaces('p5', [face(0, 0, 1)]);
  await g.checkpoint();
  await g.close();
  // A leftover older log beside a complete snapshot is not replayed.
  await copyFile(join(path, 'log-3.wal'), join(path, 'log-0.wal'));
  await appendFile(join(path, 'log-0.wal'), encodeRecord({ header: { op: 'identity.delete', id: 'p5' } }));
  g = await Gallery.open(path, quiet);
  assert.equal(g.identity('p5').faces.length, 2);
  assert.deepEqual((await readdir(path)).sort(), ['gallery.json', 'log-3.wal', 'snapshot-3.snap']);
  await g.close();
});

test('export: a snapshot file that rebuilds the same identities, faces and embeddings', async () => {
  const path = join(dir, 'exp');
  const g = await Gallery.create(path, meta('exp'), quiet);
  await g.createIdentity('alice', { a: 1 });
  await g.addFaces('alice', [face(0.6, 0.8, 0), face(1, 0, 0)]);
  await g.createIdentity('empty');
  const file = join(dir, 'exp.pgal');
  await g.exportTo(file);
  const snap = await readSnapshot(file, 'x');
  assert.ok(snap);
  assert.equal(snap.meta.name, 'exp');
  assert.deepEqual([...snap.state.identities.keys()], ['alice', 'empty']);
  const a = snap.state.identities.get('alice');
  assert.deepEqual(a?.metadata, { a: 1 });
  assert.deepEqual(a?.faces.map((f) => Array.from(f.embedding)), g.identity('alice').faces.map((f) => Array.from(f.embedding)));
  await g.close();
});

test('after a failed write the gallery refuses requests until it is reopened', async () => {
  let failNext = false;
  const openStore = async (d: number, spec: Parameters<typeof FaissStore.open>[1]): Promise<GalleryStore> => {
    const real = await FaissStore.open(d, spec);
    return new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'upsert' && failNext) return async () => Promise.reject(new Error('index write failed'));
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  const path = join(dir, 'fail');
  const g = await Gallery.create(path, meta('fail'), { ...quiet, openStore });
  await g.createIdentity('alice');
  failNext = true;
  await assert.rejects(g.addFaces('alice', [face(1, 0, 0)]), { code: 'GALLERY_UNAVAILABLE', message: /index write failed.*restart/ });
  await assert.rejects(g.createIdentity('bob'), { code: 'GALLERY_UNAVAILABLE' });
  assert.throws(() => g.identity('alice'), { code: 'GALLERY_UNAVAILABLE' });
  await g.close();
  // The record was logged before the failure: reopening replays it.
  const again = await Gallery.open(path, quiet);
  assert.equal(again.identity('alice').faces.length, 1);
  await again.close();
});
