// The gallery API end to end (supertest) on a tiny real embedder: its embedding of a solid colour
// is known by hand (colorEmbedding), so prototypes, similarities and rankings are checked against
// numbers computed here, independently of src/gallery.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';

import sharp from 'sharp';
import request from 'supertest';
import type { Express } from 'express';

import { listArtifacts } from '../../src/artifact/registry.js';
import { GalleryError } from '../../src/gallery/gallery-error.js';
import { Galleries } from '../../src/gallery/gallery-registry.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { createApp } from '../../src/server/app.js';
import { ModelPool } from '../../src/server/model-pool.js';
import { colorEmbedder, colorEmbedding, meanIntensityClassifier, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';
import { GALLERY_SUITE_CODES } from './gallery-suite-codes.js';

type RGB = [number, number, number];
const seen = new Set<string>();
const SIZE = 112;

function expectError(res: request.Response, status: number, code: string, message?: RegExp): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error?.code, code, JSON.stringify(res.body));
  assert.ok(typeof res.body.error.message === 'string' && res.body.error.message.length > 0);
  if (message) assert.match(res.body.error.message, message);
  seen.add(code);
}

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
/** The normalized mean of the colours' embeddings: the prototype, computed by hand. */
function prototype(colors: RGB[]): number[] {
  const sum = [0, 0, 0];
  for (const c of colors) colorEmbedding(c).forEach((v, i) => (sum[i] += v));
  const n = Math.hypot(...sum);
  return sum.map((v) => v / n);
}
// float32 averaging over 112 x 112 pixels: about 1e-5 of rounding
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-4, `${what}: ${a} vs ${b}`);

/** A w x h photo of one colour, with a face of that colour where the landmarks say. */
async function photo(w: number, h: number, rgb: RGB): Promise<Buffer> {
  return solidPng(w, h, rgb);
}

/** Five landmarks of an upright face whose eyes are `eyes` px apart, left eye at (x, y). */
function face(x: number, y: number, eyes = 20): number[][] {
  const s = eyes / (73.5318 - 38.2946);
  const t = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];
  return t.map(([u, v]) => [x + (u - 38.2946) * s, y + (v - 51.6963) * s]);
}

describe('galleries API', () => {
  let app: Express;
  let pool: ModelPool;
  let galleries: Galleries;
  let dir: string;
  let cleanup: () => Promise<void>;
  const crops = new Map<string, Buffer>();
  const crop = async (rgb: RGB) => {
    const key = rgb.join(',');
    if (!crops.has(key)) crops.set(key, await solidPng(SIZE, SIZE, rgb));
    return crops.get(key) as Buffer;
  };
  const enroll = (gallery: string, id: string, images: Buffer[]) => {
    let r = request(app).post(`/v1/galleries/${gallery}/identities/${encodeURIComponent(id)}/faces`);
    images.forEach((img, i) => (r = r.attach('image', img, `${i}.png`)));
    return r;
  };

  before(async () => {
    const tmp = await tempDir();
    cleanup = tmp.cleanup;
    dir = tmp.dir;
    const uncalibrated = colorEmbedder({ size: SIZE, name: 'color-uncalibrated' });
    delete uncalibrated.manifest.operatingPoints;
    await writeModels(join(dir, 'models'), [colorEmbedder({ size: SIZE }), uncalibrated, meanIntensityClassifier()]);
    const listing = await listArtifacts(join(dir, 'models'));
    pool = new ModelPool(await Promise.all(listing.artifacts.map((a) => ModelSession.create(a, { device: 'cpu' }))));
    await pool.warmup();
    galleries = await Galleries.open(join(dir, 'galleries'), { warn: () => {} });
    app = createApp({ models: pool, galleries, quiet: true, logError: () => {} });
  });
  after(async () => {
    await galleries.close();
    await pool.release();
    await cleanup();
  });

  describe('galleries', () => {
    test('create binds a gallery to a served embedder (name, version, sha256, dimension)', async () => {
      const res = await request(app).post('/v1/galleries').send({ name: 'staff', model: 'color-embedder', metadata: { site: 'HQ' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.model, { name: 'color-embedder', version: '2' });
      const sha = pool.get('color-embedder')?.session.manifest.sha256;
      assert.deepEqual(res.body.gallery.model, { name: 'color-embedder', version: '2', sha256: sha, dimension: 3 });
      assert.deepEqual(res.body.gallery.index, { kind: 'exact' });
      assert.equal(res.body.gallery.identities, 0);
      const list = await request(app).get('/v1/galleries');
      assert.deepEqual(list.body.galleries.map((g: { name: string }) => g.name), ['staff']);
      const one = await request(app).get('/v1/galleries/staff');
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.gallery.metadata, { site: 'HQ' });
      assert.equal(one.body.gallery.store.descriptor, 'Flat');
    });

    test('approximate indexes per gallery: ivf and hnsw', async () => {
      const ivf = await request(app).post('/v1/galleries').send({ name: 'big', model: 'color-embedder', index: { kind: 'ivf', nprobe: 8 } });
      assert.equal(ivf.status, 201, JSON.stringify(ivf.body));
      assert.deepEqual(ivf.body.gallery.index, { kind: 'ivf', nprobe: 8 });
      const hnsw = await request(app).post('/v1/galleries').send({ name: 'graph', model: 'color-embedder', index: 'hnsw' });
      assert.deepEqual(hnsw.body.gallery.index, { kind: 'hnsw', m: 32, efSearch: 64 });
      assert.equal((await request(app).get('/v1/galleries/graph')).body.gallery.store.descriptor, 'HNSW32');
    });

    test('a duplicate name, an unknown or non-embedder model, bad fields are refused', async () => {
      expectError(await request(app).post('/v1/galleries').send({ name: 'staff', model: 'color-embedder' }), 409, 'GALLERY_EXISTS');
      expectError(await request(app).post('/v1/galleries').send({ name: 'x', model: 'nope' }), 404, 'MODEL_NOT_FOUND');
      expectError(await request(app).post('/v1/galleries').send({ name: 'x', model: 'mean-probs' }), 400, 'WRONG_TASK');
      expectError(await request(app).post('/v1/galleries').send({ name: '../x', model: 'color-embedder' }), 400, 'INVALID_PARAMETER', /gallery name/);
      expectError(await request(app).post('/v1/galleries').send({ name: 'x', model: 'color-embedder', index: 'lsh' }), 400, 'INVALID_PARAMETER', /kind must be one of exact, ivf, hnsw/);
      expectError(await request(app).post('/v1/galleries').send({ name: 'x', model: 'color-embedder', index: { kind: 'ivf', nlist: 4, nprobe: 8 } }), 400, 'INVALID_PARAMETER', /nprobe/);
      expectError(await request(app).post('/v1/galleries').send({ name: 'x', model: 'color-embedder', extra: 1 }), 400, 'BAD_REQUEST');
      expectError(await request(app).post('/v1/galleries').set('Content-Type', 'text/plain').send('name=x'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(await request(app).post('/v1/galleries').set('Content-Type', 'application/json').send('{"name": '), 400, 'BAD_REQUEST');
      expectError(await request(app).get('/v1/galleries/nope'), 404, 'GALLERY_NOT_FOUND', /galleries: big, graph, staff/);
      expectError(await request(app).put('/v1/galleries/staff'), 405, 'METHOD_NOT_ALLOWED');
    });
  });

  describe('identities', () => {
    test('create with metadata, read, patch (merge patch), duplicate ids refused', async () => {
      const res = await request(app).post('/v1/galleries/staff/identities').send({ id: 'alice', metadata: { role: 'admin', floor: 3 } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.model, { name: 'color-embedder', version: '2' });
      assert.deepEqual(res.body.identity.metadata, { role: 'admin', floor: 3 });
      assert.equal(res.body.identity.faces, 0);
      expectError(await request(app).post('/v1/galleries/staff/identities').send({ id: 'alice' }), 409, 'IDENTITY_EXISTS');
      const patched = await request(app).patch('/v1/galleries/staff/identities/alice').send({ metadata: { floor: null, badge: 'A1' } });
      assert.deepEqual(patched.body.identity.metadata, { role: 'admin', badge: 'A1' });
      assert.deepEqual((await request(app).get('/v1/galleries/staff/identities/alice')).body.identity.metadata, { role: 'admin', badge: 'A1' });
      for (const id of ['bob', 'carol', 'dave', 'erin']) assert.equal((await request(app).post('/v1/galleries/staff/identities').send({ id })).status, 201);
      expectError(await request(app).post('/v1/galleries/staff/identities').send({ id: '' }), 400, 'INVALID_PARAMETER');
      expectError(await request(app).post('/v1/galleries/staff/identities').send({ id: 'x', metadata: [1] }), 400, 'INVALID_PARAMETER', /metadata/);
      expectError(await request(app).post('/v1/galleries/staff/identities'), 400, 'BAD_REQUEST', /empty/);
      expectError(await request(app).post('/v1/galleries/nope/identities').send({ id: 'x' }), 404, 'GALLERY_NOT_FOUND');
    });

    test('paginated listing in creation order, with a cursor', async () => {
      const first = await request(app).get('/v1/galleries/staff/identities?limit=2');
      assert.deepEqual(first.body.identities.map((i: { id: string }) => i.id), ['alice', 'bob']);
      assert.equal(first.body.total, 5);
      const second = await request(app).get(`/v1/galleries/staff/identities?limit=2&cursor=${first.body.next}`);
      assert.deepEqual(second.body.identities.map((i: { id: string }) => i.id), ['carol', 'dave']);
      const third = await request(app).get(`/v1/galleries/staff/identities?limit=2&cursor=${second.body.next}`);
      assert.deepEqual(third.body.identities.map((i: { id: string }) => i.id), ['erin']);
      assert.equal(third.body.next, null);
      expectError(await request(app).get('/v1/galleries/staff/identities?limit=0'), 400, 'INVALID_PARAMETER');
      expectError(await request(app).get('/v1/galleries/staff/identities?cursor=abc'), 400, 'INVALID_PARAMETER', /cursor/);
    });

    test('delete; then the identity is gone', async () => {
      const res = await request(app).delete('/v1/galleries/staff/identities/erin');
      assert.deepEqual(res.body, { model: { name: 'color-embedder', version: '2' }, deleted: { identity: 'erin' } });
      expectError(await request(app).get('/v1/galleries/staff/identities/erin'), 404, 'IDENTITY_NOT_FOUND');
      expectError(await request(app).delete('/v1/galleries/staff/identities/erin'), 404, 'IDENTITY_NOT_FOUND');
      expectError(await request(app).patch('/v1/galleries/staff/identities/erin').send({ metadata: {} }), 404, 'IDENTITY_NOT_FOUND');
    });
  });

  const aliceColors: RGB[] = [[250, 20, 30], [230, 40, 10]];
  const bobColors: RGB[] = [[20, 30, 240]];
  const carolColors: RGB[] = [[30, 220, 40], [10, 250, 90]];

  describe('faces', () => {
    test('enrol aligned crops (several per request); the identity counts them', async () => {
      const res = await enroll('staff', 'alice', await Promise.all(aliceColors.map(crop)));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.faces.length, 2);
      assert.equal(res.body.identity.faces, 2);
      assert.deepEqual(res.body.faces.map((f: { source: { image: number } }) => f.source.image), [0, 1]);
      assert.match(res.body.faces[0].source.sha256, /^[0-9a-f]{64}$/);
      assert.equal((await enroll('staff', 'bob', [await crop(bobColors[0])])).status, 201);
      // A raw image body enrols one crop.
      const raw = await request(app).post('/v1/galleries/staff/identities/carol/faces').set('Content-Type', 'image/png').send(await crop(carolColors[0]));
      assert.equal(raw.status, 201, JSON.stringify(raw.body));
    });

    test('a photo with five landmarks per face is aligned first', async () => {
      const img = await photo(120, 90, carolColors[1]);
      const res = await request(app)
        .post('/v1/galleries/staff/identities/carol/faces')
        .attach('image', img, 'photo.png')
        .field('landmarks', JSON.stringify(face(40, 30)));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.faces[0].source.landmarks, face(40, 30).flat().map((v) => v));
      const listed = await request(app).get('/v1/galleries/staff/identities/carol/faces?embeddings=true');
      assert.equal(listed.body.faces.length, 2);
      listed.body.faces.forEach((f: { embedding: number[] }, i: number) =>
        colorEmbedding(carolColors[i]).forEach((v, j) => close(f.embedding[j], v, `carol face ${i}[${j}]`)),
      );
    });

    test('list and delete faces', async () => {
      await enroll('staff', 'dave', [await crop([100, 100, 100]), await crop([120, 110, 90])]);
      const listed = await request(app).get('/v1/galleries/staff/identities/dave/faces');
      assert.equal(listed.body.faces.length, 2);
      assert.equal(listed.body.faces[0].embedding, undefined);
      const gone = await request(app).delete(`/v1/galleries/staff/identities/dave/faces/${listed.body.faces[0].id}`);
      assert.equal(gone.status, 200);
      assert.equal((await request(app).get('/v1/galleries/staff/identities/dave')).body.identity.faces, 1);
      expectError(await request(app).delete(`/v1/galleries/staff/identities/dave/faces/${listed.body.faces[0].id}`), 404, 'FACE_NOT_FOUND');
      expectError(await request(app).get('/v1/galleries/staff/identities/nobody/faces'), 404, 'IDENTITY_NOT_FOUND');
    });

    test('bad cases: no image, unknown identity, no face found, bad landmarks', async () => {
      const url = '/v1/galleries/staff/identities/alice/faces';
      expectError(await request(app).post(url), 400, 'IMAGE_REQUIRED');
      expectError(await request(app).post(url).field('landmarks', '[]'), 400, 'IMAGE_REQUIRED');
      expectError(await request(app).post(url).attach('image', Buffer.alloc(0), 'a.png'), 400, 'IMAGE_REQUIRED');
      expectError(await request(app).post('/v1/galleries/staff/identities/nobody/faces').attach('image', await crop([1, 2, 3]), 'a.png'), 404, 'IDENTITY_NOT_FOUND');
      expectError(await request(app).post(url).attach('image', Buffer.from('not an image'), 'a.png'), 415, 'IMAGE_UNREADABLE');
      const wide = await photo(120, 60, [200, 10, 10]);
      expectError(await request(app).post(url).attach('image', wide, 'wide.png'), 422, 'NO_FACE_FOUND', /120x60, not an aligned 112x112 face crop/);
      const bad = async (landmarks: unknown, re: RegExp) =>
        expectError(await request(app).post(url).attach('image', wide, 'wide.png').field('landmarks', typeof landmarks === 'string' ? landmarks : JSON.stringify(landmarks)), 400, 'BAD_LANDMARKS', re);
      await bad('[[1,2]', /not JSON/);
      await bad(face(40, 20).slice(0, 4), /landmarks must be JSON/);
      await bad(face(110, 20), /outside the 120x60 image/);
      const swapped = face(40, 20);
      [swapped[0], swapped[1]] = [swapped[1], swapped[0]];
      await bad(swapped, /do not form a face/);
      await bad(face(40, 20, 2), /eyes are 2\.0 px apart/);
      await bad([face(40, 20), face(40, 20)].map(() => null).concat([null]), /landmarks must be JSON/);
      // Nothing was enrolled by any of these.
      assert.equal((await request(app).get('/v1/galleries/staff/identities/alice')).body.identity.faces, 2);
    });
  });

  describe('identify', () => {
    const url = '/v1/galleries/staff/identify';

    test('top-k identities per face, similarities to the prototypes (normalized means)', async () => {
      const probe: RGB = [240, 30, 20];
      const res = await request(app).post(`${url}?k=3`).attach('image', await crop(probe), 'probe.png');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.model, { name: 'color-embedder', version: '2' });
      const q = colorEmbedding(probe);
      const expected = [
        ['alice', dot(q, prototype(aliceColors))],
        ['bob', dot(q, prototype(bobColors))],
        ['carol', dot(q, prototype(carolColors))],
        ['dave', dot(q, prototype([[120, 110, 90]]))],
      ].sort((a, b) => (b[1] as number) - (a[1] as number)).slice(0, 3);
      const [result] = res.body.faces;
      assert.deepEqual(result.candidates.map((c: { identity: string }) => c.identity), expected.map((e) => e[0]));
      result.candidates.forEach((c: { similarity: number }, i: number) => close(c.similarity, expected[i][1] as number, `candidate ${i}`));
      assert.deepEqual(result.candidates[0].metadata, { role: 'admin', badge: 'A1' });
      // The manifest's operating point at FAR 1e-4 (threshold 0.6) decides: alice.
      assert.deepEqual(res.body.operating_point, { source: 'calibration', far: 1e-4, threshold: 0.6 });
      assert.equal(result.identity, 'alice');
      assert.equal(result.unknown, false);
      assert.deepEqual(result.box, { x: 0, y: 0, width: SIZE, height: SIZE });
    });

    test('below the threshold the answer is an explicit unknown; threshold= and far= per request', async () => {
      const probe: RGB = [200, 200, 60];
      const strict = await request(app).post(`${url}?threshold=0.99`).attach('image', await crop(probe), 'p.png');
      assert.equal(strict.status, 200, JSON.stringify(strict.body));
      assert.deepEqual(strict.body.operating_point, { source: 'request', far: null, threshold: 0.99 });
      assert.equal(strict.body.faces[0].unknown, true);
      assert.equal(strict.body.faces[0].identity, null);
      assert.ok(strict.body.faces[0].candidates.length > 0 && strict.body.faces[0].candidates.every((c: { match: boolean }) => c.match === false));
      const far = await request(app).post(`${url}?far=0.001`).attach('image', await crop([240, 30, 20]), 'p.png');
      assert.deepEqual(far.body.operating_point, { source: 'calibration', far: 1e-3, threshold: 0.5 });
      expectError(await request(app).post(`${url}?far=0.5`).attach('image', await crop(probe), 'p.png'), 400, 'INVALID_PARAMETER', /no operating point at FAR 0.5/);
      expectError(await request(app).post(`${url}?threshold=2`).attach('image', await crop(probe), 'p.png'), 400, 'INVALID_PARAMETER');
      expectError(await request(app).post(`${url}?threshold=0.5&far=0.001`).attach('image', await crop(probe), 'p.png'), 400, 'INVALID_PARAMETER', /not both/);
    });

    test('every face of the request: several images, several landmarked faces in a photo', async () => {
      const group = await sharp({ create: { width: 160, height: 80, channels: 3, background: { r: 240, g: 30, b: 20 } } })
        .composite([{ input: { create: { width: 80, height: 80, channels: 3, background: { r: 20, g: 30, b: 240 } } }, left: 80, top: 0 }])
        .png()
        .toBuffer();
      const res = await request(app)
        .post(`${url}?k=1`)
        .attach('image', await crop([25, 240, 60]), 'crop.png')
        .attach('image', group, 'group.png')
        .field('landmarks', JSON.stringify([null, [face(20, 25), face(100, 25)]]));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.faces.map((f: { image: number; face: number; identity: string }) => [f.image, f.face, f.identity]), [
        [0, 0, 'carol'],
        [1, 0, 'alice'],
        [1, 1, 'bob'],
      ]);
      // The aligned crop of a face with eyes 20 px apart spans about 64 px around it.
      const box = res.body.faces[2].box;
      assert.ok(box.x > 70 && box.x < 100 && Math.abs(box.width - 63.6) < 1, JSON.stringify(box));
    });

    test('k out of range, no image, unknown gallery', async () => {
      const img = await crop([1, 2, 3]);
      for (const k of ['0', '101', 'abc', '-1']) expectError(await request(app).post(`${url}?k=${k}`).attach('image', img, 'p.png'), 400, 'INVALID_PARAMETER', /k/);
      expectError(await request(app).post(url), 400, 'IMAGE_REQUIRED');
      expectError(await request(app).post('/v1/galleries/nope/identify').attach('image', img, 'p.png'), 404, 'GALLERY_NOT_FOUND');
      expectError(await request(app).post(url).set('Content-Type', 'application/json').send({}), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    test('an empty gallery answers unknown, without candidates', async () => {
      const res = await request(app).post('/v1/galleries/graph/identify').attach('image', await crop([9, 9, 200]), 'p.png');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual([res.body.faces[0].unknown, res.body.faces[0].identity, res.body.faces[0].candidates], [true, null, []]);
    });

    test('a model without an operating point of the served pipeline decides nothing and says so', async () => {
      assert.equal((await request(app).post('/v1/galleries').send({ name: 'raw', model: 'color-uncalibrated' })).status, 201);
      await request(app).post('/v1/galleries/raw/identities').send({ id: 'alice' });
      await enroll('raw', 'alice', [await crop(aliceColors[0])]);
      const res = await request(app).post('/v1/galleries/raw/identify').attach('image', await crop(aliceColors[0]), 'p.png');
      assert.equal(res.body.operating_point.source, 'uncalibrated');
      assert.equal(res.body.operating_point.threshold, null);
      assert.match(res.body.operating_point.note, /no operating point measured on the served pipeline/);
      assert.deepEqual([res.body.faces[0].identity, res.body.faces[0].unknown, res.body.faces[0].candidates[0].match], [null, null, null]);
      const withThreshold = await request(app).post('/v1/galleries/raw/identify?threshold=0.9').attach('image', await crop(aliceColors[0]), 'p.png');
      assert.equal(withThreshold.body.faces[0].identity, 'alice');
      expectError(await request(app).post('/v1/galleries/raw/identify?far=0.0001').attach('image', await crop(aliceColors[0]), 'p.png'), 400, 'INVALID_PARAMETER', /served pipeline/);
    });
  });

  describe('verify against an enrolled identity', () => {
    test('similarity of each face to the identity prototype, and the decision', async () => {
      const probe: RGB = [235, 35, 25];
      const res = await request(app).post('/v1/galleries/staff/identities/alice/verify').attach('image', await crop(probe), 'p.png').attach('image', await crop(bobColors[0]), 'q.png');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      close(res.body.faces[0].similarity, dot(colorEmbedding(probe), prototype(aliceColors)), 'same');
      close(res.body.faces[1].similarity, dot(colorEmbedding(bobColors[0]), prototype(aliceColors)), 'other');
      assert.deepEqual(res.body.faces.map((f: { same: boolean }) => f.same), [true, false]);
      assert.equal(res.body.identity, 'alice');
    });

    test('an identity without faces, or unknown, is refused before the upload', async () => {
      await request(app).post('/v1/galleries/staff/identities').send({ id: 'frank' });
      expectError(await request(app).post('/v1/galleries/staff/identities/frank/verify').attach('image', await crop([1, 2, 3]), 'p.png'), 409, 'IDENTITY_EMPTY');
      expectError(await request(app).post('/v1/galleries/staff/identities/nobody/verify').attach('image', await crop([1, 2, 3]), 'p.png'), 404, 'IDENTITY_NOT_FOUND');
    });
  });

  describe('one model per gallery', () => {
    test('a server whose model has other weights under the same name refuses the gallery\'s face requests', async () => {
      const other = colorEmbedder({ size: SIZE, normalize: false, name: 'color-embedder' });
      await writeModels(join(dir, 'models2'), [other]);
      const [artifact] = (await listArtifacts(join(dir, 'models2'))).artifacts;
      const pool2 = new ModelPool([await ModelSession.create(artifact, { device: 'cpu' })]);
      await pool2.warmup();
      const app2 = createApp({ models: pool2, galleries, quiet: true });
      const res = await request(app2).post('/v1/galleries/staff/identify').attach('image', await crop([1, 2, 3]), 'p.png');
      expectError(res, 409, 'MODEL_MISMATCH', /not comparable/);
      expectError(await request(app2).post('/v1/galleries/staff/identities/alice/faces').attach('image', await crop([1, 2, 3]), 'p.png'), 409, 'MODEL_MISMATCH');
      // Listing needs no embeddings: it still works.
      assert.equal((await request(app2).get('/v1/galleries/staff/identities')).status, 200);
      // A model that is not served at all.
      const app3 = createApp({ models: [], galleries, quiet: true, logError: () => {} });
      expectError(await request(app3).post('/v1/galleries/staff/identify').attach('image', await crop([1, 2, 3]), 'p.png'), 503, 'GALLERY_UNAVAILABLE', /does not serve/);
      await pool2.release();
      // Naming another model in the request.
      expectError(await request(app).post('/v1/galleries/staff/identify?model=color-uncalibrated').attach('image', await crop([1, 2, 3]), 'p.png'), 409, 'MODEL_MISMATCH');
    });
  });

  describe('persistence and lifecycle', () => {
    test('closing and reopening the folder gives back every identity, face and prototype', async () => {
      const before = await request(app).post('/v1/galleries/staff/identify?k=4').attach('image', await crop([240, 30, 20]), 'p.png');
      await galleries.close();
      galleries = await Galleries.open(join(dir, 'galleries'), { warn: () => {} });
      app = createApp({ models: pool, galleries, quiet: true });
      const after = await request(app).post('/v1/galleries/staff/identify?k=4').attach('image', await crop([240, 30, 20]), 'p.png');
      assert.deepEqual(after.body.faces, before.body.faces);
      assert.equal((await request(app).get('/v1/galleries/staff')).body.gallery.faces, 6);
    });

    test('delete a gallery', async () => {
      const res = await request(app).delete('/v1/galleries/big');
      assert.deepEqual(res.body.deleted, { gallery: 'big' });
      expectError(await request(app).get('/v1/galleries/big'), 404, 'GALLERY_NOT_FOUND');
      expectError(await request(app).delete('/v1/galleries/big'), 404, 'GALLERY_NOT_FOUND');
    });

    test('without faiss, or without a galleries folder, gallery routes say why', async () => {
      const noFaiss = await Galleries.open(join(dir, 'galleries-nofaiss'), {
        openStore: async () => {
          throw new GalleryError('FAISS_UNAVAILABLE', 'faiss-node is not built (test)');
        },
      });
      const appNoFaiss = createApp({ models: pool, galleries: noFaiss, quiet: true, logError: () => {} });
      expectError(await request(appNoFaiss).post('/v1/galleries').send({ name: 'x', model: 'color-embedder' }), 503, 'FAISS_UNAVAILABLE', /not built/);
      assert.deepEqual((await request(appNoFaiss).get('/v1/galleries')).body.galleries, []);
      await noFaiss.close();
      expectError(await request(createApp({ models: pool, quiet: true, logError: () => {} })).get('/v1/galleries'), 503, 'GALLERY_UNAVAILABLE', /--galleries/);
    });
  });

  test('every gallery error code was answered above', () => {
    assert.deepEqual(GALLERY_SUITE_CODES.filter((c) => !seen.has(c)), []);
  });
});
