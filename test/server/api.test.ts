// The HTTP API end to end on tiny real ONNX models in a temp models folder.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';

import sharp from 'sharp';
import request from 'supertest';

import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import { listArtifacts } from '../../src/artifact/registry.js';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { defaultConfig, type ServerConfig } from '../../src/config/server-config.js';
import { InferError } from '../../src/infer/infer-error.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { createApp } from '../../src/server/app.js';
import { ERROR_CODES } from '../../src/server/error-codes.js';
import { ModelPool } from '../../src/server/model-pool.js';
import { colorEmbedder, colorEmbedding, meanIntensityClassifier, meanLogits, MEAN_LABELS, nanClassifier, refSoftmax, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';
import { GALLERY_SUITE_CODES } from './gallery-suite-codes.js';
import { HOSTILE_SUITE_CODES, SECURITY_SUITE_CODES } from './security-suite-codes.js';
import { KSERVE_SUITE_CODES } from './kserve-suite-codes.js';

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
      assert.deepEqual(res.body, {
        ready: true,
        models: ['color-embedder', 'mean-logits', 'mean-probs'].map((name) => ({ name, state: 'ready' })),
      });
    });

    test('ready answers 503 NOT_READY before warm-up, and with no models', async () => {
      const session = await ModelSession.create({ manifest: { ...meanIntensityClassifier().manifest, file: 'model.onnx', sha256: '0'.repeat(64) }, modelPath: '-', bytes: meanIntensityClassifier().bytes }, { device: 'cpu' });
      const cold = new ModelPool([session]);
      const app = createApp({ models: cold, quiet: true });
      const before = await request(app).get('/v2/health/ready');
      expectError(before, 503, 'NOT_READY');
      assert.match(before.body.error.message, /mean-probs is loading/);
      assert.deepEqual(before.body.error.models, [{ name: 'mean-probs', state: 'loading' }]);
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
      const { scheduler, ...described } = byName['mean-probs'];
      // Sessions given by the caller run on the main thread, per the scheduler defaults: batching auto, so none on CPU.
      assert.deepEqual({ executor: scheduler.executor, max_batch: scheduler.max_batch, max_queue: scheduler.max_queue }, { executor: 'inline', max_batch: 1, max_queue: 128 });
      assert.ok(scheduler.items >= 1 && scheduler.batches >= 1, JSON.stringify(scheduler));
      assert.deepEqual(described, {
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

    test('?threshold= decides at a similarity of the request\'s choosing; the answer names its operating point', async () => {
      const img = await solidPng(16, 16, [10, 20, 30]);
      const calibrated = await request(server).post(url).attach('image1', img, 'a.png').attach('image2', img, 'b.png');
      assert.deepEqual(calibrated.body.operating_point, { source: 'calibration', far: 1e-4, threshold: 0.6 });
      const res = await request(server).post(`${url}?threshold=0.99999`).attach('image1', img, 'a.png').attach('image2', await solidPng(16, 16, [12, 20, 30]), 'b.png');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.operating_point, { source: 'request', far: null, threshold: 0.99999 });
      assert.deepEqual(res.body.decision, { far: null, threshold: 0.99999, same: false });
      expectError(await request(server).post(`${url}?threshold=0.5&far=0.001`).attach('image1', img, 'a.png').attach('image2', img, 'b.png'), 400, 'INVALID_PARAMETER');
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
    /** A pool whose only model passes its warm-up, then fails at run time in a chosen way. */
    async function failingApp(error: Error) {
      const manifest = { ...meanIntensityClassifier().manifest, file: 'model.onnx', sha256: '0'.repeat(64) };
      let runs = 0;
      const fake = {
        name: manifest.name,
        manifest,
        provider: 'cpu',
        device: 'cpu',
        attempts: [],
        maxBatch: Infinity,
        run: async () => {
          if (runs++ === 0) return [Float32Array.of(0.2, 0.3, 0.5)];
          throw error;
        },
        release: async () => {},
      } as unknown as ModelSession;
      const failing = new ModelPool([fake]);
      await failing.warmup();
      return createApp({ models: failing, quiet: true, logError: (l) => errors.push(l) });
    }

    test('an onnxruntime failure is INFERENCE_FAILED (500)', async () => {
      const res = await request(await failingApp(new InferError('INFERENCE_FAILED', 'mean-probs: onnxruntime run failed: boom'))).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(png200);
      expectError(res, 500, 'INFERENCE_FAILED');
    });

    test('an unexpected error is INTERNAL (500) without details, and logged with its stack', async () => {
      errors.length = 0;
      const res = await request(await failingApp(new TypeError('secret internals at /srv/x.js'))).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(png200);
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

  describe('model states, load and unload', () => {
    let dir: string;
    let cleanupDir: () => Promise<void>;
    let statePool: ModelPool;
    let stateServer: Server;
    const config = (over: Partial<ServerConfig['server']> = {}): ServerConfig => {
      const c = defaultConfig();
      return { ...c, server: { ...c.server, ...over }, scheduler: { ...c.scheduler, executor: 'inline' } };
    };
    before(async () => {
      ({ dir, cleanup: cleanupDir } = await tempDir());
      await writeModels(dir, [meanIntensityClassifier(), nanClassifier('flaky')]);
      statePool = await ModelPool.open({ modelsDir: dir, device: 'cpu', config: config(), log: () => {}, logError: () => {} });
      stateServer = createApp({ models: statePool, config: config(), quiet: true, logError: (l) => errors.push(l) }).listen(0);
    });
    after(async () => {
      await new Promise((resolve) => stateServer.close(resolve));
      await statePool.release();
      await cleanupDir();
    });
    const classify = (name: string) => request(stateServer).post(`/v1/models/${name}/classify`).set('Content-Type', 'image/png').send(png200);

    test('a model still loading answers 503 MODEL_UNAVAILABLE with its state and Retry-After; readiness lists each model', async () => {
      const res = await classify('mean-probs');
      expectError(res, 503, 'MODEL_UNAVAILABLE');
      assert.equal(res.body.error.state, 'loading');
      assert.ok(Number(res.headers['retry-after']) >= 1, JSON.stringify(res.headers));
      const ready = await request(stateServer).get('/v2/health/ready');
      expectError(ready, 503, 'NOT_READY');
      assert.deepEqual(ready.body.error.models, [
        { name: 'flaky', state: 'loading' },
        { name: 'mean-probs', state: 'loading' },
      ]);
    });

    test('a model that fails its warm-up answers 503 with state failed; the others serve; load retries it', async () => {
      await statePool.warmup();
      assert.equal((await classify('mean-probs')).status, 200);
      const failed = await classify('flaky');
      expectError(failed, 503, 'MODEL_UNAVAILABLE');
      assert.equal(failed.body.error.state, 'failed');
      assert.match(failed.body.error.message, /NaN.*POST \/v1\/models\/flaky\/load retries it/);
      const ready = await request(stateServer).get('/v2/health/ready');
      expectError(ready, 503, 'NOT_READY');
      assert.match(ready.body.error.message, /flaky is failed/);

      // Retried as it is: fails again, and says so.
      const retry = await request(stateServer).post('/v1/models/flaky/load');
      expectError(retry, 500, 'MODEL_LOAD_FAILED');
      assert.equal(retry.body.error.state, 'failed');

      // Fixed on disk, then loaded again without a restart.
      await rm(join(dir, 'flaky'), { recursive: true });
      await writeModels(dir, [{ ...meanIntensityClassifier(), manifest: { ...meanIntensityClassifier().manifest, name: 'flaky', version: '2.0.0' } }]);
      const fixed = await request(stateServer).post('/v1/models/flaky/load');
      assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
      assert.equal(fixed.body.state, 'ready');
      assert.equal(fixed.body.version, '2.0.0');
      assert.equal((await classify('flaky')).status, 200);
      assert.equal((await request(stateServer).get('/v2/health/ready')).status, 200);
    });

    test('a model added to the folder loads without a restart; unload takes it out of service and out of readiness', async () => {
      expectError(await request(stateServer).post('/v1/models/late/embed').set('Content-Type', 'image/png').send(png200), 404, 'MODEL_NOT_FOUND');
      await writeModels(dir, [colorEmbedder({ size: 16, name: 'late' })]);
      const loaded = await request(stateServer).post('/v1/models/late/load');
      assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
      assert.equal(loaded.body.scheduler.executor, 'inline');
      const embed = () => request(stateServer).post('/v1/models/late/embed').attach('image', png200, 'x.png');
      assert.equal((await embed()).status, 200);

      const unloaded = await request(stateServer).post('/v1/models/late/unload');
      assert.equal(unloaded.status, 200);
      assert.equal(unloaded.body.state, 'unloaded');
      const gone = await embed();
      expectError(gone, 503, 'MODEL_UNAVAILABLE');
      assert.equal(gone.body.error.state, 'unloaded');
      const ready = await request(stateServer).get('/v2/health/ready');
      assert.equal(ready.status, 200);
      assert.ok(ready.body.models.some((m: { name: string; state: string }) => m.name === 'late' && m.state === 'unloaded'));
      expectError(await request(stateServer).post('/v1/models/nope/load'), 404, 'MODEL_NOT_FOUND');
      expectError(await request(stateServer).post('/v1/models/nope/unload'), 404, 'MODEL_NOT_FOUND');
    });

    test('admin routes answer 403 ADMIN_FORBIDDEN when turned off', async () => {
      const app = createApp({ models: statePool, config: config({ adminRoutes: 'off' }), quiet: true });
      const res = await request(app).post('/v1/models/mean-probs/unload');
      expectError(res, 403, 'ADMIN_FORBIDDEN');
      assert.match(res.body.error.message, /admin_routes/);
      assert.equal(statePool.get('mean-probs')!.state, 'ready');
    });
  });

  describe('back-pressure, deadlines and limits', () => {
    /** A session whose runs wait until the gate opens. */
    function gatedSession() {
      const manifest = { ...meanIntensityClassifier().manifest, file: 'model.onnx', sha256: '0'.repeat(64) };
      let open = true;
      const waiting: Array<() => void> = [];
      const session = {
        name: manifest.name,
        manifest,
        provider: 'cpu',
        device: 'cpu',
        attempts: [],
        maxBatch: Infinity,
        run: async (_batch: Float32Array, n: number) => {
          if (!open) await new Promise<void>((resolve) => waiting.push(resolve));
          return Array.from({ length: n }, () => Float32Array.of(0.2, 0.3, 0.5));
        },
        release: async () => {},
      } as unknown as ModelSession;
      return {
        session,
        close: () => (open = false),
        open: () => {
          open = true;
          for (const go of waiting.splice(0)) go();
        },
      };
    }
    async function gatedServer(over: { scheduler?: Partial<ServerConfig['scheduler']>; limits?: Partial<ServerConfig['limits']>; server?: Partial<ServerConfig['server']> }) {
      const c = defaultConfig();
      const config: ServerConfig = { ...c, scheduler: { ...c.scheduler, ...over.scheduler }, limits: { ...c.limits, ...over.limits }, server: { ...c.server, ...over.server } };
      const gate = gatedSession();
      const pool = new ModelPool([gate.session], [], { config });
      await pool.warmup();
      gate.close();
      const server = createApp({ models: pool, config, quiet: true }).listen(0);
      const stats = () => pool.get('mean-probs')!.session.stats()!;
      const send = (headers: Record<string, string> = {}) => request(server).post('/v1/models/mean-probs/classify').set({ 'Content-Type': 'image/png', ...headers }).send(png200).then((r) => r);
      const stop = async () => {
        gate.open();
        await new Promise((resolve) => server.close(resolve));
      };
      return { gate, stats, send, stop };
    }
    async function until(condition: () => boolean): Promise<void> {
      for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(condition(), 'condition never held');
    }

    test('a full queue answers 503 OVERLOADED with Retry-After at once; the queued requests are served after', async () => {
      const s = await gatedServer({ scheduler: { maxBatch: 1, maxQueue: 1 } });
      try {
        const running = s.send();
        await until(() => s.stats().running === 1);
        const queued = s.send();
        await until(() => s.stats().queued === 1);
        const refused = await s.send();
        expectError(refused, 503, 'OVERLOADED');
        assert.ok(Number(refused.headers['retry-after']) >= 1);
        assert.match(refused.body.error.message, /1 images queued \(limit 1\)/);
        s.gate.open();
        assert.deepEqual([(await running).status, (await queued).status], [200, 200]);
      } finally {
        await s.stop();
      }
    });

    test('more requests in flight than limits.max_in_flight_requests are refused before the body is read', async () => {
      const s = await gatedServer({ limits: { maxInFlightRequests: 1 } });
      try {
        const running = s.send();
        await until(() => s.stats().running === 1);
        const refused = await s.send();
        expectError(refused, 503, 'OVERLOADED');
        assert.equal(refused.headers['retry-after'], '1');
        assert.match(refused.body.error.message, /max_in_flight_requests is 1/);
        s.gate.open();
        assert.equal((await running).status, 200);
        assert.equal((await s.send()).status, 200, 'the slot is free again');
      } finally {
        await s.stop();
      }
    });

    test('a request past its deadline answers 504 DEADLINE_EXCEEDED and leaves the queue', async () => {
      const s = await gatedServer({ scheduler: { maxBatch: 1 }, server: { requestDeadlineMs: 60_000 } });
      try {
        const running = s.send();
        await until(() => s.stats().running === 1);
        const late = await s.send({ 'X-Request-Deadline-Ms': '150' });
        expectError(late, 504, 'DEADLINE_EXCEEDED');
        assert.match(late.body.error.message, /150 ms/);
        assert.equal(s.stats().queued, 0, 'its item left the queue');
        expectError(await s.send({ 'X-Request-Deadline-Ms': 'soon' }), 400, 'INVALID_PARAMETER');
        s.gate.open();
        assert.equal((await running).status, 200);
        assert.equal(s.stats().items, 2, 'warm-up and the first request ran; the late one never did');
      } finally {
        await s.stop();
      }
    });

    test('?top_k= over limits.max_top_k is INVALID_PARAMETER naming the limit', async () => {
      const c = defaultConfig();
      const app = createApp({ models: pool, config: { ...c, limits: { ...c.limits, maxTopK: 2 } }, quiet: true });
      const res = await request(app).post('/v1/models/mean-probs/classify?top_k=3').set('Content-Type', 'image/png').send(png200);
      expectError(res, 400, 'INVALID_PARAMETER');
      assert.match(res.body.error.message, /over the limit of 2 \(limits.max_top_k\)/);
      assert.equal((await request(app).post('/v1/models/mean-probs/classify?top_k=2').set('Content-Type', 'image/png').send(png200)).status, 200);
    });

    test('answers carry Server-Timing: parse, decode, queue, inference, serialize', async () => {
      const res = await request(server).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(png200);
      assert.equal(res.status, 200);
      const timing = String(res.headers['server-timing']);
      for (const stage of ['parse', 'decode', 'queue', 'inference', 'serialize']) assert.match(timing, new RegExp(`${stage};dur=\\d+\\.\\d{3}`));
      assert.match(timing, /batch;desc=1/);
      assert.ok(res.body.time_ms.inference > 0);
    });
  });

  describe('registry and log', () => {
    test('every registered error code was answered by some test above (gallery codes: galleries.test.ts; KServe: kserve.test.ts; keys and the HTTP layer: security and hostile-input tests)', () => {
      const elsewhere: readonly string[] = [...GALLERY_SUITE_CODES, ...KSERVE_SUITE_CODES, ...SECURITY_SUITE_CODES, ...HOSTILE_SUITE_CODES];
      const missing = [...ERROR_CODES.keys()].filter((c) => !seen.has(c) && !elsewhere.includes(c));
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
