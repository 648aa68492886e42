// /openapi.json against the server itself: every route the Express app registers is documented
// and every documented operation is registered; every registry error code is documented; and
// real answers of the real server on the shipped models (successes and errors, every operation
// at least once) match the document: a documented status, its schema, a documented code.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Express } from 'express';
import sharp from 'sharp';
import request from 'supertest';

import { createApp } from '../../src/server/app.js';
import { ERROR_CODES } from '../../src/server/error-codes.js';
import { openApiDocument, openApiPath } from '../../src/server/openapi/openapi-document.js';
import { NO_OPERATION, OPERATIONS } from '../../src/server/openapi/operations.js';
import { assertValidOpenApi, OpenApiChecker } from './openapi-checker.js';
import { FACE_PHOTOS, startShippedServer } from './shipped-server.js';
import { mnistDigitPng } from './mnist-digit.js';

type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };

/** Every (METHOD path) the app's routers register, walking nested routers; app.all (405) and HEAD left out. */
function registeredRoutes(app: Express): Set<string> {
  const out = new Set<string>();
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      // app.all (the 405 answers) registers a route for every HTTP method: not an operation.
      if (layer.route && Object.keys(layer.route.methods).length > 8) continue;
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all' && method !== 'head') out.add(`${method.toUpperCase()} ${layer.route.path}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

describe('OpenAPI document', () => {
  const doc = openApiDocument() as ReturnType<typeof openApiDocument> & { paths: Record<string, Record<string, unknown>> };

  test('is a valid OpenAPI 3 document', async () => {
    await assertValidOpenApi(doc);
  });

  test('documents every route the app registers, and registers every documented route', () => {
    const registered = registeredRoutes(createApp({ models: [], quiet: true }));
    const documented = new Set(OPERATIONS.map((op) => `${op.method.toUpperCase()} ${op.path}`));
    assert.ok(registered.size > 30, `walked only ${registered.size} routes`);
    assert.deepEqual([...registered].filter((r) => !documented.has(r)), [], 'registered but not in /openapi.json');
    assert.deepEqual([...documented].filter((r) => !registered.has(r)), [], 'in /openapi.json but not registered');
  });

  test('every error code of the registry is documented, each under its own status', () => {
    const documented = new Set<string>(NO_OPERATION);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops as Record<string, { responses: Record<string, { 'x-error-codes'?: string[] }> }>)) {
        for (const [status, response] of Object.entries(op.responses)) {
          for (const code of response['x-error-codes'] ?? []) {
            assert.equal(ERROR_CODES.get(code)?.statusCode, Number(status), `${method} ${path}: ${code} under ${status}`);
            documented.add(code);
          }
        }
      }
    }
    assert.deepEqual([...ERROR_CODES.keys()].filter((c) => !documented.has(c)), []);
    assert.ok(doc.info && String((doc.info as { description: string }).description).includes('ROUTE_NOT_FOUND'));
  });
});

describe('OpenAPI document against the real server on the shipped models', () => {
  let server: Awaited<ReturnType<typeof startShippedServer>>;
  let checker: OpenApiChecker;
  let photo1: Buffer;
  let photo4: Buffer;
  let digit: { png: Buffer; label: number };
  const answered = new Set<string>();

  before(async () => {
    server = await startShippedServer();
    const served = (await request(server.url).get('/openapi.json')).body;
    checker = new OpenApiChecker(served);
    photo1 = await readFile(join(FACE_PHOTOS, 'sample1.jpg'));
    photo4 = await readFile(join(FACE_PHOTOS, 'sample4.jpg'));
    digit = await mnistDigitPng(0);
  });
  after(() => server.stop());

  /** Checks one answer against the document: a documented status, its schema, a documented code. */
  async function check(res: request.Response, expectStatus?: number): Promise<request.Response> {
    const req = (res as unknown as { req: { method: string; path: string } }).req;
    const method = req.method;
    const path = new URL(req.path, server.url).pathname;
    if (expectStatus !== undefined) assert.equal(res.status, expectStatus, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    const code = res.body?.error?.code ?? res.body?.code;
    const found = checker.match(method, path);
    if (!found && res.status === 405) {
      const ops = checker.pathsOf(path).flatMap((t) => Object.values(checker.doc.paths[t]) as { responses: Record<string, { 'x-error-codes'?: string[] }> }[]);
      assert.ok(ops.length > 0 && ops.every((op) => op.responses['405']?.['x-error-codes']?.includes(code)), `${method} ${path}: 405 ${code} is not documented on its path`);
      return res;
    }
    if (!found) {
      assert.ok(NO_OPERATION.includes(code), `${method} ${path} is undocumented and answered ${res.status} ${code}`);
      return res;
    }
    const response = checker.check(method, path, res);
    if (res.status >= 400) assert.ok(response['x-error-codes']?.includes(code), `${method} ${path} answered ${code}, not among ${response['x-error-codes']}`);
    answered.add(`${method} ${found.template}`);
    return res;
  }
  const api = () => request(server.url);

  test('the page, its assets and the document', async () => {
    await check(await api().get('/'), 200);
    await check(await api().get('/web/app.js'), 200);
    await check(await api().get('/web/style.css'), 200);
    await check(await api().get('/web/other.js'), 404);
    await check(await api().get('/openapi.json'), 200);
  });

  test('health and models', async () => {
    await check(await api().get('/v2/health/live'), 200);
    await check(await api().get('/v2/health/ready'), 200);
    await check(await api().get('/metrics'), 200);
    const list = await check(await api().get('/v1/models'), 200);
    assert.deepEqual(list.body.models.map((m: { name: string }) => m.name).sort(), ['blazeface', 'fashion-mnist-lt-bce3s', 'mnist-resnet8', 'mobileface']);
    await check(await api().get('/v1/models/mnist-resnet8'), 200);
    await check(await api().get('/v1/models/nope'), 404);
    await check(await api().post('/v1/models/nope/load'), 404);
    await check(await api().post('/v1/models/mnist-resnet8/unload'), 200);
    await check(await api().post('/v1/models/mnist-resnet8/load'), 200);
    await check(await api().put('/v1/models'), 405);
    await check(await api().get('/v1/nothing-here'), 404);
  });

  test('classify, detect, embed, verify: answers and errors', async () => {
    const classified = await check(await api().post('/v1/models/mnist-resnet8/classify?top_k=3').attach('image', digit.png, 'digit.png'), 200);
    assert.equal(classified.body.predictions[0].label, String(digit.label));
    await check(await api().post('/v1/models/mnist-resnet8/classify?top_k=zero').attach('image', digit.png, 'digit.png'), 400);
    await check(await api().post('/v1/models/mobileface/classify').attach('image', digit.png, 'digit.png'), 400);
    await check(await api().post('/v1/models/mnist-resnet8/classify').field('nothing', 'here'), 400);
    await check(await api().post('/v1/models/mnist-resnet8/classify').set('Content-Type', 'image/png').send(Buffer.from('not a png')), 415);
    await check(await api().post('/v1/models/mnist-resnet8/classify').set('Content-Type', 'text/plain').send('hello'), 415);
    const detected = await check(await api().post('/v1/models/blazeface/detect').attach('image', photo1, 'sample1.jpg'), 200);
    assert.equal(detected.body.faces.length, 3);
    await check(await api().post('/v1/models/blazeface/detect?score_threshold=2').attach('image', photo1, 'sample1.jpg'), 400);
    const embedded = await check(await api().post('/v1/models/mobileface/embed').attach('image', photo4, 'sample4.jpg'), 200);
    assert.equal(embedded.body.faces.length, 4);
    const gray = await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
    await check(await api().post('/v1/models/mobileface/embed').attach('image', gray, 'gray.png'), 422);
    await check(await api().post('/v1/models/mobileface/verify').attach('image1', photo1, 'a.jpg').attach('image2', photo4, 'b.jpg'), 200);
    await check(await api().post('/v1/models/mobileface/verify?face2=9').attach('image1', photo1, 'a.jpg').attach('image2', photo4, 'b.jpg'), 422);
  });

  test('galleries, identities, faces, identify', async () => {
    const created = await check(await api().post('/v1/galleries').send({ name: 'doc', model: 'mobileface' }));
    if (created.status === 503) {
      assert.equal(created.body.error.code, 'FAISS_UNAVAILABLE');
      return;
    }
    assert.equal(created.status, 201);
    await check(await api().post('/v1/galleries').send({ name: 'doc', model: 'mobileface' }), 409);
    await check(await api().post('/v1/galleries').send({ name: 'doc2', model: 'mnist-resnet8' }), 400);
    await check(await api().get('/v1/galleries'), 200);
    await check(await api().get('/v1/galleries/doc'), 200);
    await check(await api().get('/v1/galleries/none'), 404);
    await check(await api().post('/v1/galleries/doc/identities').send({ id: 'a', metadata: { badge: 'A1' } }), 201);
    await check(await api().post('/v1/galleries/doc/identities').send({ id: 'a' }), 409);
    await check(await api().get('/v1/galleries/doc/identities'), 200);
    await check(await api().get('/v1/galleries/doc/identities/a'), 200);
    await check(await api().get('/v1/galleries/doc/identities/b'), 404);
    await check(await api().patch('/v1/galleries/doc/identities/a').send({ metadata: { badge: 'A2' } }), 200);
    await check(await api().post('/v1/galleries/doc/identities/a/verify?input=photo').attach('image', photo1, 'p.jpg'), 409);
    const enrolled = await check(await api().post('/v1/galleries/doc/identities/a/faces?input=photo').attach('image', photo1, 'p.jpg'), 201);
    const stored = await check(await api().get('/v1/galleries/doc/identities/a/faces'), 200);
    assert.equal(stored.body.faces[0].source.sha256, createHash('sha256').update(photo1).digest('hex'), 'the enrolled photo\'s sha256');
    await check(await api().post('/v1/galleries/doc/identify?input=photo').attach('image', photo1, 'p.jpg'), 200);
    await check(await api().post('/v1/galleries/doc/identities/a/verify?input=photo').attach('image', photo1, 'p.jpg'), 200);
    await check(await api().delete(`/v1/galleries/doc/identities/a/faces/${enrolled.body.faces[0].id}`), 200);
    await check(await api().delete('/v1/galleries/doc/identities/a/faces/nope'), 404);
    await check(await api().delete('/v1/galleries/doc/identities/a'), 200);
    await check(await api().delete('/v1/galleries/doc'), 200);
  });

  test('KServe v2 routes', async () => {
    await check(await api().get('/v2'), 200);
    await check(await api().get('/v2/models/mnist-resnet8'), 200);
    await check(await api().get('/v2/models/mnist-resnet8/versions/nope'), 404);
    await check(await api().get('/v2/models/mnist-resnet8/ready'), 200);
    const meta = (await api().get('/v2/models/mnist-resnet8')).body;
    const version = meta.versions[0];
    await check(await api().get(`/v2/models/mnist-resnet8/versions/${version}`), 200);
    await check(await api().get(`/v2/models/mnist-resnet8/versions/${version}/ready`), 200);
    const input = meta.inputs[0];
    const shape = input.shape.map((d: number) => (d === -1 ? 1 : d));
    const data = new Array(shape.reduce((a: number, b: number) => a * b, 1)).fill(0);
    await check(await api().post('/v2/models/mnist-resnet8/infer').send({ inputs: [{ name: input.name, shape, datatype: 'FP32', data }] }), 200);
    await check(await api().post(`/v2/models/mnist-resnet8/versions/${version}/infer`).send({ inputs: [{ name: input.name, shape, datatype: 'FP32', data: [1] }] }), 400);
  });

  test('every documented operation was answered and checked', () => {
    const all = OPERATIONS.map((op) => `${op.method.toUpperCase()} ${openApiPath(op.path)}`);
    const missing = all.filter((op) => !answered.has(op));
    // Without faiss the gallery operations past creation cannot answer; everything else must have.
    const left = answered.has('POST /v1/galleries') && !answered.has('GET /v1/galleries/{gallery}') ? missing.filter((op) => !op.includes('/v1/galleries/')) : missing;
    assert.deepEqual(left, []);
  });
});
