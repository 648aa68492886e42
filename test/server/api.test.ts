// The HTTP API end to end on tiny real ONNX models in a temp models folder.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';

import sharp from 'sharp';
import request from 'supertest';

import { listArtifacts } from '../../src/artifact/registry.js';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { InferError } from '../../src/infer/infer-error.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { createApp } from '../../src/server/app.js';
import { ERROR_CODES } from '../../src/server/error-codes.js';
import { ModelPool } from '../../src/server/model-pool.js';
import { colorEmbedder, colorEmbedding, meanIntensityClassifier, meanLogits, MEAN_LABELS, refSoftmax, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';

const MAX_BODY = 64 * 1024;
const MAX_PIXELS = 200 * 200;
const seen = new Set<string>();

function expectError(res: request.Response, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error?.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
  assert.match(String(res.headers['content-type']), /application\/json/);
  seen.add(code);
}

/** Expected top-3 of the mean-intensity classifier for a solid gray level v. */
function expectedPredictions(v: number) {
  const p = refSoftmax(meanLogits(v / 255));
  return [0, 1, 2].sort((a, b) => p[b] - p[a]).map((i) => ({ label: MEAN_LABELS[i], score: p[i] }));
}

function assertPredictions(actual: { label: string; score: number }[], expected: { label: string; score: number }[]) {
  assert.deepEqual(actual.map((p) => p.label), expected.map((p) => p.label));
  actual.forEach((p, i) => assert.ok(Math.abs(p.score - expected[i].score) < 1e-5, `${p.label}: ${p.score} vs ${expected[i].score}`));
}

describe('HTTP API', () => {
  let server: Server;
  let pool: ModelPool;
  let cleanup: () => Promise<void>;
  const logs: string[] = [];
  const errors: string[] = [];
  let png200: Buffer;

  before(async () => {
    const tmp = await tempDir();
    cleanup = tmp.cleanup;
    await writeModels(tmp.dir, [meanIntensityClassifier(), meanIntensityClassifier({ logits: true }), colorEmbedder({ size: 16 })]);
    const listing = await listArtifacts(tmp.dir);
    const sessions = await Promise.all(listing.artifacts.map((a) => ModelSession.create(a, { device: 'cpu' })));
    pool = new ModelPool(sessions, [{ dir: `${tmp.dir}/broken`, code: 'MANIFEST_INVALID', message: `manifest.input.height: expected a positive integer, got "abc" (in ${tmp.dir}/broken)` }]);
    await pool.warmup();
    const app = createApp({ models: pool, maxBodyBytes: MAX_BODY, maxPixels: MAX_PIXELS, log: (l) => logs.push(l), logError: (l) => errors.push(l) });
    server = app.listen(0);
    png200 = await solidPng(28, 28, 200);
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await pool.release();
    await cleanup();
  });

  describe('health', () => {
    test('live answers 200', async () => {
      const res = await request(server).get('/v2/health/live');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { live: true });
    });

    test('ready answers 200 once every model ran once, listing them', async () => {
      const res = await request(server).get('/v2/health/ready');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { ready: true, models: ['color-embedder', 'mean-logits', 'mean-probs'] });
    });

    test('ready answers 503 NOT_READY before warm-up, and with no models', async () => {
      const session = await ModelSession.create({ manifest: { ...meanIntensityClassifier().manifest, file: 'model.onnx', sha256: '0'.repeat(64) }, modelPath: '-', bytes: meanIntensityClassifier().bytes }, { device: 'cpu' });
      const cold = new ModelPool([session]);
      const app = createApp({ models: cold, quiet: true });
      const before = await request(app).get('/v2/health/ready');
      expectError(before, 503, 'NOT_READY');
      assert.match(before.body.error.message, /warming up mean-probs/);
      await cold.warmup();
      assert.equal((await request(app).get('/v2/health/ready')).status, 200);
      await cold.release();
      expectError(await request(createApp({ models: [], quiet: true })).get('/v2/health/ready'), 503, 'NOT_READY');
    });
  });

  describe('models', () => {
    test('GET /v1/models lists name, version, task, input, output and execution provider', async () => {
      const res = await request(server).get('/v1/models');
      assert.equal(res.status, 200);
      const byName = Object.fromEntries(res.body.models.map((m: { name: string }) => [m.name, m]));
      assert.deepEqual(Object.keys(byName), ['color-embedder', 'mean-logits', 'mean-probs']);
      assert.deepEqual(byName['mean-probs'], {
        name: 'mean-probs',
        version: '1.0.0',
        task: 'classifier',
        input: { tensor: 'input', layout: 'NCHW', height: 28, width: 28, channels: 1, color: 'gray', resize: 'stretch' },
        output: { tensor: 'probs', kind: 'probabilities', dimension: 3, normalized: false },
        labels: 3,
        executionProvider: 'cpu',
        device: 'cpu',
        state: 'ready',
      });
      assert.equal(byName['color-embedder'].output.dimension, 3);
      // Broken artifacts are listed by folder name, without server paths.
      assert.equal(res.body.unavailable.length, 1);
      assert.equal(res.body.unavailable[0].folder, 'broken');
      assert.equal(res.body.unavailable[0].code, 'MANIFEST_INVALID');
      assert.ok(!res.body.unavailable[0].message.includes('/tmp'));
    });

    test('GET /v1/models/{name} answers the manifest; an unknown name is MODEL_NOT_FOUND', async () => {
      const res = await request(server).get('/v1/models/mean-probs');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, pool.get('mean-probs')!.session.manifest);
      const missing = await request(server).get('/v1/models/nope');
      expectError(missing, 404, 'MODEL_NOT_FOUND');
      assert.match(missing.body.error.message, /"nope".*color-embedder, mean-logits, mean-probs/);
    });
  });

  describe('classify', () => {
    test('multipart field "image": labels in order with the scores computed by hand', async () => {
      const res = await request(server).post('/v1/models/mean-probs/classify').attach('image', png200, { filename: 'x.png', contentType: 'image/png' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.model, { name: 'mean-probs', version: '1.0.0' });
      assertPredictions(res.body.predictions, expectedPredictions(200));
      for (const k of ['preprocess', 'inference', 'total']) assert.ok(res.body.time_ms[k] >= 0, k);
      assert.ok(res.body.time_ms.total >= res.body.time_ms.inference);
    });

    test('raw body with an image/* content type, any size and format', async () => {
      for (const v of [0, 100, 255]) {
        const img = await sharp(Buffer.alloc(40 * 30, v), { raw: { width: 40, height: 30, channels: 1 } }).png().toBuffer();
        const res = await request(server).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(img);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assertPredictions(res.body.predictions, expectedPredictions(v));
      }
      const webp = await sharp(png200).webp({ lossless: true }).toBuffer();
      const res = await request(server).post('/v1/models/mean-probs/classify').set('Content-Type', 'application/octet-stream').send(webp);
      assert.equal(res.status, 200);
      assertPredictions(res.body.predictions, expectedPredictions(200));
    });

    test('a logits model answers probabilities (softmax applied)', async () => {
      const res = await request(server).post('/v1/models/mean-logits/classify').set('Content-Type', 'image/png').send(png200);
      assert.equal(res.status, 200);
      assertPredictions(res.body.predictions, expectedPredictions(200));
    });

    test('?top_k= limits the predictions (default 5, clamped to the label count)', async () => {
      const one = await request(server).post('/v1/models/mean-probs/classify?top_k=1').set('Content-Type', 'image/png').send(png200);
      assert.equal(one.status, 200);
      assertPredictions(one.body.predictions, expectedPredictions(200).slice(0, 1));
      const two = await request(server).post('/v1/models/mean-probs/classify?top_k=2').set('Content-Type', 'image/png').send(png200);
      assert.equal(two.body.predictions.length, 2);
      const many = await request(server).post('/v1/models/mean-probs/classify?top_k=100').set('Content-Type', 'image/png').send(png200);
      assert.equal(many.body.predictions.length, 3);
    });

    for (const bad of ['0', '-1', '1.5', 'abc', '', '1&top_k=2']) {
      test(`?top_k=${bad} is INVALID_PARAMETER`, async () => {
        const res = await request(server).post(`/v1/models/mean-probs/classify?top_k=${bad}`).set('Content-Type', 'image/png').send(png200);
        expectError(res, 400, 'INVALID_PARAMETER');
        assert.match(res.body.error.message, /top_k/);
      });
    }

    test('an embedder on /classify, or a classifier on /embed, is WRONG_TASK', async () => {
      const res = await request(server).post('/v1/models/color-embedder/classify').set('Content-Type', 'image/png').send(png200);
      expectError(res, 400, 'WRONG_TASK');
      assert.match(res.body.error.message, /an embedder, not a classifier; use POST \/v1\/models\/color-embedder\/embed/);
      expectError(await request(server).post('/v1/models/mean-probs/embed').set('Content-Type', 'image/png').send(png200), 400, 'WRONG_TASK');
    });

    test('an unknown model is MODEL_NOT_FOUND, before the body is read', async () => {
      expectError(await request(server).post('/v1/models/nope/classify').set('Content-Type', 'image/png').send(png200), 404, 'MODEL_NOT_FOUND');
    });
  });

  describe('embed', () => {
    test('answers the unit-length embedding of the image', async () => {
      const img = await solidPng(16, 16, [255, 0, 100]);
      const res = await request(server).post('/v1/models/color-embedder/embed').attach('image', img, 'face.png');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.dimension, 3);
      const want = colorEmbedding([255, 0, 100]);
      res.body.embedding.forEach((x: number, i: number) => assert.ok(Math.abs(x - want[i]) < 1e-5));
    });
  });

  describe('verify', () => {
    const url = '/v1/models/color-embedder/verify';
    const cosine = (a: [number, number, number], b: [number, number, number]) => {
      const u = colorEmbedding(a);
      const v = colorEmbedding(b);
      return u.reduce((sum, x, i) => sum + x * v[i], 0);
    };

    test('answers the cosine similarity and the decision at each operating point', async () => {
      const a: [number, number, number] = [255, 0, 100];
      for (const [b, same] of [[[250, 10, 90], true], [[0, 255, 100], false]] as const) {
        const res = await request(server)
          .post(url)
          .attach('image1', await solidPng(16, 16, a), 'a.png')
          .attach('image2', await solidPng(16, 16, [...b]), 'b.png');
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const want = cosine(a, [...b] as [number, number, number]);
        assert.ok(Math.abs(res.body.similarity - want) < 1e-5, `${res.body.similarity} vs ${want}`);
        assert.deepEqual(res.body.decision, { far: 1e-4, threshold: 0.6, same });
        assert.deepEqual(res.body.operating_points, [
          { far: 1e-4, threshold: 0.6, same: want > 0.6 },
          { far: 1e-3, threshold: 0.5, same: want > 0.5 },
        ]);
      }
    });

    test('?far= picks another operating point; one the model lacks is refused', async () => {
      const img = await solidPng(16, 16, [10, 20, 30]);
      const ok = await request(server).post(`${url}?far=0.001`).attach('image1', img, 'a.png').attach('image2', img, 'b.png');
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(ok.body.decision, { far: 1e-3, threshold: 0.5, same: true });
      const missing = await request(server).post(`${url}?far=0.5`).attach('image1', img, 'a.png').attach('image2', img, 'b.png');
      expectError(missing, 400, 'INVALID_PARAMETER');
      assert.match(missing.body.error.message, /no operating point at FAR 0.5; it has 0.0001, 0.001/);
      expectError(await request(server).post(`${url}?far=abc`).attach('image1', img, 'a.png').attach('image2', img, 'b.png'), 400, 'INVALID_PARAMETER');
    });

    test('a missing, empty or extra file, a raw body, or a classifier get registry errors', async () => {
      const img = await solidPng(16, 16, [10, 20, 30]);
      const one = await request(server).post(url).attach('image1', img, 'a.png');
      expectError(one, 400, 'IMAGE_REQUIRED');
      assert.match(one.body.error.message, /"image2"/);
      expectError(await request(server).post(url).attach('image1', img, 'a.png').attach('image2', Buffer.alloc(0), 'b.png'), 400, 'IMAGE_REQUIRED');
      expectError(await request(server).post(url).attach('image1', img, 'a.png').attach('image3', img, 'c.png'), 400, 'IMAGE_REQUIRED');
      expectError(await request(server).post(url).set('Content-Type', 'image/png').send(img), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(await request(server).post('/v1/models/mean-probs/verify').attach('image1', img, 'a.png').attach('image2', img, 'b.png'), 400, 'WRONG_TASK');
      const garbage = await request(server).post(url).attach('image1', img, 'a.png').attach('image2', Buffer.from('not an image'), 'b.png');
      expectError(garbage, 415, 'IMAGE_UNREADABLE');
    });
  });

  describe('bad requests get a registry error, never a crash', () => {
    const url = '/v1/models/mean-probs/classify';

    test('no image: empty body, empty raw image, form without the file, wrong field, text field', async () => {
      expectError(await request(server).post(url), 400, 'IMAGE_REQUIRED');
      expectError(await request(server).post(url).set('Content-Type', 'image/png').send(Buffer.alloc(0)), 400, 'IMAGE_REQUIRED');
      expectError(await request(server).post(url).field('other', 'x'), 400, 'IMAGE_REQUIRED');
      const wrongField = await request(server).post(url).attach('file', png200, 'x.png');
      expectError(wrongField, 400, 'IMAGE_REQUIRED');
      assert.match(wrongField.body.error.message, /field "image", got a file in field "file"/);
      const textField = await request(server).post(url).field('image', 'hello');
      expectError(textField, 400, 'IMAGE_REQUIRED');
      assert.match(textField.body.error.message, /is text, not a file/);
    });

    test('JSON and other non-image content types are UNSUPPORTED_MEDIA_TYPE', async () => {
      expectError(await request(server).post(url).send({ image: 'aGVsbG8=' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(await request(server).post(url).set('Content-Type', 'text/plain').send('hello'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    test('bytes that are not an image are IMAGE_UNREADABLE', async () => {
      expectError(await request(server).post(url).set('Content-Type', 'image/png').send(Buffer.from('not a png at all')), 415, 'IMAGE_UNREADABLE');
      expectError(await request(server).post(url).attach('image', Buffer.from('%PDF-1.4 ...'), { filename: 'x.pdf', contentType: 'application/pdf' }), 415, 'IMAGE_UNREADABLE');
      expectError(await request(server).post(url).set('Content-Type', 'image/png').send(png200.subarray(0, 60)), 415, 'IMAGE_UNREADABLE');
    });

    test('bodies over the limit are PAYLOAD_TOO_LARGE (raw and multipart)', async () => {
      const big = Buffer.alloc(MAX_BODY + 1000, 7);
      const raw = await request(server).post(url).set('Content-Type', 'image/png').send(big);
      expectError(raw, 413, 'PAYLOAD_TOO_LARGE');
      assert.match(raw.body.error.message, new RegExp(String(MAX_BODY)));
      expectError(await request(server).post(url).attach('image', big, 'big.png'), 413, 'PAYLOAD_TOO_LARGE');
    });

    test('images with too many pixels are IMAGE_TOO_LARGE', async () => {
      const huge = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#808080' } }).png().toBuffer();
      assert.ok(huge.length < MAX_BODY);
      expectError(await request(server).post(url).set('Content-Type', 'image/png').send(huge), 413, 'IMAGE_TOO_LARGE');
    });

    test('malformed multipart is MULTIPART_MALFORMED', async () => {
      expectError(await request(server).post(url).set('Content-Type', 'multipart/form-data').send('--x\r\n'), 400, 'MULTIPART_MALFORMED');
      const truncated = '--XYZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\npartial';
      expectError(await request(server).post(url).set('Content-Type', 'multipart/form-data; boundary=XYZ').send(truncated), 400, 'MULTIPART_MALFORMED');
      const twoFiles = await request(server).post(url).attach('image', png200, 'a.png').attach('image', png200, 'b.png');
      expectError(twoFiles, 400, 'MULTIPART_MALFORMED');
    });

    test('unknown routes are ROUTE_NOT_FOUND, wrong methods METHOD_NOT_ALLOWED, bad escapes BAD_REQUEST', async () => {
      expectError(await request(server).get('/nope'), 404, 'ROUTE_NOT_FOUND');
      expectError(await request(server).post('/v1/models'), 405, 'METHOD_NOT_ALLOWED');
      const get = await request(server).get(url);
      expectError(get, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(get.headers.allow, 'POST');
      expectError(await request(server).get('/v1/models/%E0%A4%A'), 400, 'BAD_REQUEST');
    });

    test('the server is still live after all of that', async () => {
      assert.equal((await request(server).get('/v2/health/live')).status, 200);
    });
  });

  describe('server-side failures', () => {
    /** A pool whose only model fails at run time in a chosen way. */
    function failingApp(error: Error) {
      const manifest = { ...meanIntensityClassifier().manifest, file: 'model.onnx', sha256: '0'.repeat(64) };
      const fake = {
        name: manifest.name,
        manifest,
        provider: 'cpu',
        device: 'cpu',
        warmup: async () => {},
        run: async () => {
          throw error;
        },
        release: async () => {},
      } as unknown as ModelSession;
      return createApp({ models: new ModelPool([fake]), quiet: true, logError: (l) => errors.push(l) });
    }

    test('an onnxruntime failure is INFERENCE_FAILED (500)', async () => {
      const res = await request(failingApp(new InferError('INFERENCE_FAILED', 'mean-probs: onnxruntime run failed: boom'))).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(png200);
      expectError(res, 500, 'INFERENCE_FAILED');
    });

    test('an unexpected error is INTERNAL (500) without details, and logged with its stack', async () => {
      errors.length = 0;
      const res = await request(failingApp(new TypeError('secret internals at /srv/x.js'))).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(png200);
      expectError(res, 500, 'INTERNAL');
      assert.ok(!res.body.error.message.includes('secret'));
      assert.ok(errors.some((l) => l.includes('secret internals') && l.includes('TypeError')));
    });
  });

  describe('faces in whole photos', () => {
    let faceApp: ReturnType<typeof createApp>;
    let facePool: ModelPool;
    let sample: Buffer;
    before(async () => {
      const detector = await ModelSession.create(await readArtifact('models/blazeface'), { device: 'cpu' });
      const tiny = colorEmbedder({ size: 16, name: 'photo-embedder' });
      const embedder = await ModelSession.create(
        { manifest: { ...tiny.manifest, face: { input: 'photo' }, file: 'model.onnx', sha256: '0'.repeat(64) }, modelPath: '-', bytes: tiny.bytes },
        { device: 'cpu' },
      );
      facePool = new ModelPool([detector, embedder]);
      await facePool.warmup();
      faceApp = createApp({ models: facePool, quiet: true, logError: () => {} });
      sample = await readFile('test/fixtures/faces/sample1.jpg');
    });
    after(() => facePool.release());

    test('a photo for an embedder with no detector served is DETECTOR_UNAVAILABLE (400), before the upload', async () => {
      const res = await request(server).post('/v1/models/color-embedder/embed?input=photo').set('Content-Type', 'image/png').send(png200);
      expectError(res, 400, 'DETECTOR_UNAVAILABLE');
      assert.match(res.body.error.message, /no detector is served.*\?input=aligned/);
      const named = await request(faceApp).post('/v1/models/photo-embedder/embed?detector=nope').set('Content-Type', 'image/jpeg').send(sample);
      expectError(named, 400, 'DETECTOR_UNAVAILABLE');
      assert.match(named.body.error.message, /"nope" it names is not served \(detectors served: blazeface\)/);
    });

    test('a photo without a face is NO_FACE_FOUND (422) on /embed and /verify', async () => {
      const blank = await solidPng(300, 200, 128);
      const res = await request(faceApp).post('/v1/models/photo-embedder/embed').set('Content-Type', 'image/png').send(blank);
      expectError(res, 422, 'NO_FACE_FOUND');
      assert.match(res.body.error.message, /No face found in the image \(detector "blazeface", score threshold 0.5\)/);
      const pair = await request(faceApp).post('/v1/models/photo-embedder/verify').attach('image1', sample, 'a.jpg').attach('image2', blank, 'b.png');
      expectError(pair, 422, 'NO_FACE_FOUND');
      assert.match(pair.body.error.message, /in image2/);
    });

    test('a face index beyond the faces found is FACE_INDEX_OUT_OF_RANGE (422); a malformed one INVALID_PARAMETER', async () => {
      const res = await request(faceApp).post('/v1/models/photo-embedder/verify?face2=3').attach('image1', sample, 'a.jpg').attach('image2', sample, 'b.jpg');
      expectError(res, 422, 'FACE_INDEX_OUT_OF_RANGE');
      assert.match(res.body.error.message, /\?face2=3 asks for face 3 of image2, which has 3 face\(s\) \(indices 0..2/);
      expectError(await request(faceApp).post('/v1/models/photo-embedder/verify?face1=-1').attach('image1', sample, 'a.jpg').attach('image2', sample, 'b.jpg'), 400, 'INVALID_PARAMETER');
      const stray = await request(faceApp).post('/v1/models/photo-embedder/verify?input=aligned&face1=1').attach('image1', sample, 'a.jpg').attach('image2', sample, 'b.jpg');
      expectError(stray, 400, 'INVALID_PARAMETER');
      assert.match(stray.body.error.message, /face1.*aligned crops/);
      expectError(await request(faceApp).post('/v1/models/photo-embedder/embed?input=crop').set('Content-Type', 'image/jpeg').send(sample), 400, 'INVALID_PARAMETER');
      expectError(await request(faceApp).post('/v1/models/blazeface/detect?score_threshold=1.5').set('Content-Type', 'image/jpeg').send(sample), 400, 'INVALID_PARAMETER');
      expectError(await request(faceApp).post('/v1/models/blazeface/detect?max_faces=0').set('Content-Type', 'image/jpeg').send(sample), 400, 'INVALID_PARAMETER');
    });

    test('detect on a non-detector and embed on a detector are WRONG_TASK, naming the right route', async () => {
      const a = await request(faceApp).post('/v1/models/photo-embedder/detect').set('Content-Type', 'image/jpeg').send(sample);
      expectError(a, 400, 'WRONG_TASK');
      assert.match(a.body.error.message, /use POST \/v1\/models\/photo-embedder\/embed/);
      const b = await request(faceApp).post('/v1/models/blazeface/embed').set('Content-Type', 'image/jpeg').send(sample);
      expectError(b, 400, 'WRONG_TASK');
      assert.match(b.body.error.message, /use POST \/v1\/models\/blazeface\/detect/);
      const c = await request(faceApp).get('/v1/models/blazeface/detect');
      expectError(c, 405, 'METHOD_NOT_ALLOWED');
    });

    test('the faces of a photo are embedded at the embedder\'s own input size', async () => {
      const res = await request(faceApp).post('/v1/models/photo-embedder/embed').set('Content-Type', 'image/jpeg').send(sample);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.detector, { name: 'blazeface', version: '3.0.4' });
      assert.equal(res.body.faces.length, 3);
      for (const f of res.body.faces) {
        assert.equal(f.embedding.length, 3);
        assert.ok(f.box.width > 0 && f.score > 0.5 && f.keypoints.length === 6);
      }
    });
  });

  describe('registry and log', () => {
    test('every registered error code was answered by some test above', () => {
      const missing = [...ERROR_CODES.keys()].filter((c) => !seen.has(c));
      assert.deepEqual(missing, []);
      for (const def of ERROR_CODES.values()) assert.ok(def.statusCode >= 400 && def.statusCode < 600, def.code);
    });

    test('one log line per request: method, path, status, ms', () => {
      assert.ok(logs.some((l) => /^POST \/v1\/models\/mean-probs\/classify 200 \d+\.\dms$/.test(l)), logs.slice(0, 5).join('\n'));
      assert.ok(logs.some((l) => /^GET \/nope 404 \d+\.\dms$/.test(l)));
      assert.ok(logs.every((l) => !l.includes('?')), 'query strings are not logged');
    });
  });
});
