// protoserve gallery: create, enroll a folder, list, export, import (an export and a trainer's seed).
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { readManifest } from '../../src/artifact/read-artifact.js';
import { galleryCommand } from '../../src/gallery/gallery-command.js';
import { Galleries } from '../../src/gallery/gallery-registry.js';
import { readSeed, writeSeed } from '../../src/gallery/gallery-seed.js';
import { colorEmbedder, colorEmbedding, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';

let dir: string;
let cleanup: () => Promise<void>;
let sha: string;
before(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeModels(join(dir, 'models'), [colorEmbedder({ size: 16 })]);
  sha = (await readManifest(join(dir, 'models', 'color-embedder'))).sha256;
});
after(() => cleanup());

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await galleryCommand([...argv, '--galleries', join(dir, 'galleries'), '--models', join(dir, 'models')], { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, out: out.join(''), err: err.join('') };
}

test('create, enroll a folder of identities (with a progress bar), list', async () => {
  assert.equal((await run('create', 'office', '--model', 'color-embedder')).code, 0);
  const faces = join(dir, 'faces');
  const colors: Record<string, Array<[number, number, number]>> = { ann: [[250, 10, 10], [240, 20, 0]], bob: [[0, 10, 250]] };
  for (const [who, list] of Object.entries(colors)) {
    await mkdir(join(faces, who), { recursive: true });
    for (const [i, c] of list.entries()) await writeFile(join(faces, who, `${i}.png`), await solidPng(16, 16, c));
  }
  await writeFile(join(faces, 'bob', 'group-photo.png'), await solidPng(64, 32, [1, 2, 3]));
  await writeFile(join(faces, 'bob', 'notes.txt'), 'not an image');
  const r = await run('enroll', 'office', faces, '--device', 'cpu');
  assert.equal(r.code, 2, r.err); // one image skipped
  assert.match(r.err, /\[#{24}\] 100%/);
  assert.match(r.err, /enrolled 3 faces into 2 identities \(2 new\)/);
  assert.match(r.err, /skipped 1 images:\n {2}\S+group-photo\.png: No face found in image 0: it is 64x32/);
  const list = await run('list');
  assert.match(list.out, /^office\tmodel color-embedder 2 \(\w{12}\)\texact\t2 identities\t3 faces\n$/);
});

test('export, then import under another name: the same identities and embeddings', async () => {
  const file = join(dir, 'office.pgal');
  assert.equal((await run('export', 'office', file)).code, 0);
  const r = await run('import', file, '--name', 'office-copy');
  assert.equal(r.code, 0, r.err);
  const g = await Galleries.open(join(dir, 'galleries'));
  try {
    const a = g.get('office').identity('ann');
    const b = g.get('office-copy').identity('ann');
    assert.deepEqual(b.faces.map((f) => Array.from(f.embedding)), a.faces.map((f) => Array.from(f.embedding)));
    assert.deepEqual(Array.from(a.faces[0].embedding), colorEmbedding([250, 10, 10]).map(Math.fround));
    // The folder is held by one process: the CLI refuses while it is open.
    await assert.rejects(run('list'), { code: 'GALLERIES_LOCKED' });
  } finally {
    await g.close();
  }
  await assert.rejects(run('import', file, '--name', 'office-copy'), { code: 'GALLERY_EXISTS' });
});

test('import a trainer\'s seed (identity -> prototype); a seed of another model is refused', async () => {
  const seedFile = join(dir, 'classes.seed');
  const prototypes = Float32Array.from([...colorEmbedding([200, 0, 0]), ...colorEmbedding([0, 200, 0])]);
  await writeSeed(seedFile, {
    model: { name: 'color-embedder', sha256: sha },
    dimension: 3,
    identities: [{ id: 'red', images: 40, metadata: { class: 0 } }, { id: 'green' }],
    prototypes,
  });
  const back = await readSeed(seedFile);
  assert.deepEqual(back.identities, [{ id: 'red', images: 40, metadata: { class: 0 } }, { id: 'green' }]);
  assert.equal((await run('import', seedFile, '--name', 'classes', '--index', 'hnsw')).code, 0);
  const g = await Galleries.open(join(dir, 'galleries'));
  try {
    const gallery = g.get('classes');
    assert.deepEqual(gallery.meta.index, { kind: 'hnsw', m: 32, efSearch: 64 });
    assert.deepEqual(gallery.identity('red').seed?.images, 40);
    const [hits] = await gallery.search(Float32Array.from(colorEmbedding([190, 20, 10])), 2);
    assert.deepEqual(hits.map((h) => h.identity.id), ['red', 'green']);
  } finally {
    await g.close();
  }
  await writeSeed(join(dir, 'other.seed'), { model: { name: 'color-embedder', sha256: 'c'.repeat(64) }, dimension: 3, identities: [{ id: 'x' }], prototypes: Float32Array.from([1, 0, 0]) });
  await assert.rejects(run('import', join(dir, 'other.seed'), '--name', 'other'), { code: 'MODEL_MISMATCH', message: /not comparable/ });
});

test('seed files that do not follow the format say what is wrong', async () => {
  const path = join(dir, 'bad.seed');
  const header = (h: object) => `${JSON.stringify({ format: 'protoserve-gallery-seed', version: 1, model: { name: 'm', sha256: 'a'.repeat(64) }, dimension: 2, ...h })}\n`;
  const cases: Array<[string | Buffer, RegExp]> = [
    ['no newline', /not JSON|no newline/],
    [header({ identities: [{ id: 'a' }, { id: 'a' }] }) + 'xxxxxxxxxxxxxxxx', /duplicate id "a"/],
    [header({ identities: [{ id: 'a' }] }) + 'xxx', /3 bytes of prototypes after the header; 1 identities x 2 float32 need 8/],
    [Buffer.concat([Buffer.from(header({ identities: [{ id: 'a' }] })), Buffer.alloc(8)]), /all zeros/],
    [header({ identities: [{ id: 'a', images: 0 }] }) + 'xxxxxxxx', /images must be a positive integer/],
    [header({ format: 'other', identities: [{ id: 'a' }] }), /format is "other"/],
  ];
  for (const [content, re] of cases) {
    await writeFile(path, content);
    await assert.rejects(readSeed(path), { code: 'GALLERY_FILE_INVALID', message: re });
  }
});
