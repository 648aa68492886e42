// protoserve gallery: create, enroll a folder, list, export, import (an export and a trainer's seed).
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import sharp from 'sharp';

import { readManifest } from '../../src/artifact/read-artifact.js';
import { galleryCommand } from '../../src/gallery/gallery-command.js';
import { Galleries } from '../../src/gallery/gallery-registry.js';
import { writeGallerySeed } from '../../src/export/gallery-seed.js';
import { readSeed } from '../../src/gallery/gallery-seed.js';
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

test('import a trainer\'s seed (protoserve export --gallery-seed); a seed of another model is refused', async () => {
  const seedFile = join(dir, 'classes.seed');
  const header = { format: 'protoserve-gallery-seed' as const, version: 1, model: { name: 'color-embedder', sha256: sha }, dimension: 3, identities: ['red', 'green'], kind: 'empirical' as const, images: [40, 1], run: 'runs/x' };
  await writeGallerySeed(seedFile, header, Float32Array.from([...colorEmbedding([200, 0, 0]), ...colorEmbedding([0, 200, 0])]));
  assert.deepEqual(readSeed(seedFile).header.identities, ['red', 'green']);
  assert.equal((await run('import', seedFile, '--name', 'classes', '--index', 'hnsw')).code, 0);
  const g = await Galleries.open(join(dir, 'galleries'));
  try {
    const gallery = g.get('classes');
    assert.deepEqual(gallery.meta.index, { kind: 'hnsw', m: 32, efSearch: 64 });
    assert.deepEqual(gallery.identity('red').seed?.images, 40);
    assert.deepEqual(gallery.identity('red').metadata, { seed: { kind: 'empirical', run: 'runs/x' } });
    const [hits] = await gallery.search(Float32Array.from(colorEmbedding([190, 20, 10])), 2);
    assert.deepEqual(hits.map((h) => h.identity.id), ['red', 'green']);
  } finally {
    await g.close();
  }
  // The JSON form is read the same way; a seed of other weights is refused.
  await writeGallerySeed(join(dir, 'other.json'), { ...header, model: { name: 'color-embedder', sha256: 'c'.repeat(64) } }, Float32Array.from([1, 0, 0, 0, 1, 0]));
  await assert.rejects(run('import', join(dir, 'other.json'), '--name', 'other'), { code: 'MODEL_MISMATCH', message: /not comparable/ });
});

test('seed files that cannot become a gallery say what is wrong', async () => {
  const header = { format: 'protoserve-gallery-seed' as const, version: 1, model: { name: 'm', sha256: 'a'.repeat(64) }, dimension: 2, identities: ['a', 'b'], kind: 'empirical' as const, images: [3, 4], run: 'r' };
  const cases: Array<[Partial<typeof header>, Float32Array, RegExp]> = [
    [{ identities: ['a', 'a'] }, new Float32Array([1, 0, 0, 1]), /duplicate id "a"/],
    [{ images: [3] }, new Float32Array([1, 0, 0, 1]), /images must hold one positive count/],
    [{}, new Float32Array([1, 0, 0, 0]), /all zeros/],
    [{ identities: ['a', ''] }, new Float32Array([1, 0, 0, 1]), /identities\[1\]/],
  ];
  for (const [change, rows, re] of cases) {
    const path = join(dir, 'bad.seed');
    await writeGallerySeed(path, { ...header, ...change }, rows);
    assert.throws(() => readSeed(path), { code: 'GALLERY_FILE_INVALID', message: re });
  }
  await writeFile(join(dir, 'garbage.seed'), 'not a seed');
  assert.throws(() => readSeed(join(dir, 'garbage.seed')), { code: 'GALLERY_FILE_INVALID', message: /not a gallery seed/ });
});

test('enroll a folder of photos: the shipped detector finds the largest face of each', async () => {
  const folder = join(dir, 'photos');
  await mkdir(join(folder, 'woman'), { recursive: true });
  const sample1 = await readFile('test/fixtures/faces/sample1.jpg');
  await writeFile(join(folder, 'woman', 'a.jpg'), sample1);
  await writeFile(join(folder, 'woman', 'b.jpg'), await sharp(sample1).flop().jpeg().toBuffer());
  await writeFile(join(folder, 'woman', 'blank.jpg'), await sharp({ create: { width: 64, height: 48, channels: 3, background: '#777' } }).jpeg().toBuffer());
  const galleries = join(dir, 'galleries-photos');
  const io = { stdout: () => {}, stderr: (t: string) => err.push(t) };
  const err: string[] = [];
  assert.equal(await galleryCommand(['create', 'faces', '--model', 'mobileface', '--galleries', galleries, '--models', 'models'], io), 0);
  const code = await galleryCommand(['enroll', 'faces', folder, '--galleries', galleries, '--models', 'models', '--device', 'cpu'], io);
  assert.equal(code, 2, err.join(''));
  assert.match(err.join(''), /faces found by blazeface/);
  assert.match(err.join(''), /enrolled 2 faces into 1 identities/);
  assert.match(err.join(''), /blank\.jpg: No face found in image 0 \(64x48\) by the detector "blazeface"/);
  const g = await Galleries.open(galleries);
  try {
    const woman = g.get('faces').identity('woman');
    assert.equal(woman.faces.length, 2);
    // The photo and its mirror: the same person, so their embeddings agree far above chance.
    const [a, b] = woman.faces.map((f) => f.embedding);
    assert.ok(a.reduce((s, v, i) => s + v * b[i], 0) > 0.6);
  } finally {
    await g.close();
  }
});
