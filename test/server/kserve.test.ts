// The KServe v2 / Open Inference Protocol routes against the protocol's own OpenAPI document
// (test/fixtures/kserve/open_inference_rest.yaml, read as its README says), on the real server
// and the shipped mnist-resnet8: metadata, readiness and inference answers validate against the
// document's schemas, a real MNIST digit is classified right, and every malformed request
// answers the protocol's {"error": "<message>"} (our code beside it) without reaching the model.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import request from 'supertest';
import { parse } from 'yaml';

import { assertValidOpenApi, OpenApiChecker } from './openapi-checker.js';
import { KSERVE_SUITE_CODES } from './kserve-suite-codes.js';
import { mnistDigitPng } from './mnist-digit.js';
import { startShippedServer } from './shipped-server.js';

const MODEL = 'mnist-resnet8';
const ERROR_SCHEMA = '#/components/schemas/inference_error_response';

describe('KServe v2 against open_inference_rest.yaml', () => {
  let server: Awaited<ReturnType<typeof startShippedServer>>;
  let spec: OpenApiChecker;
  let version: string;
  let input: { name: string; datatype: string; shape: number[] };
  let output: { name: string; datatype: string; shape: number[] };
  let digit: { pixels: Uint8Array; label: number };
  let normalized: number[];
  const seen = new Set<string>();
  const api = () => request(server.url);
  const itemsRun = () => server.pool.get(MODEL)?.session.stats()?.items ?? 0;

  before(async () => {
    const doc = parse(await readFile('test/fixtures/kserve/open_inference_rest.yaml', 'utf8'));
    await assertValidOpenApi(doc);
    // The prose makes /versions/${MODEL_VERSION} optional: the versionless forms are the same operations.
    spec = new OpenApiChecker(doc, (t) => (t.includes('/versions/${MODEL_VERSION}') ? [t.replace('/versions/${MODEL_VERSION}', '')] : []));
    server = await startShippedServer();
    const meta = (await api().get(`/v2/models/${MODEL}`)).body;
    version = meta.versions[0];
    [input] = meta.inputs;
    [output] = meta.outputs;
    digit = await mnistDigitPng(7);
    // The manifest's preprocessing (scale 1/255, mean 0.1307, std 0.3081), done here by hand.
    normalized = Array.from(digit.pixels, (v) => (v / 255 - 0.1307) / 0.3081);
  });
  after(() => server.stop());

  /** An error answer: the protocol's shape (error: string), our code beside it, the status given. */
  function expectError(res: request.Response, status: number, code: string, path: string): void {
    assert.equal(res.status, status, `${path}: ${res.status} ${JSON.stringify(res.body)}`);
    spec.validate(ERROR_SCHEMA, res.body, `${path} ${status}`);
    assert.equal(typeof res.body.error, 'string');
    assert.ok(res.body.error.length > 0);
    assert.equal(res.body.code, code, JSON.stringify(res.body));
    seen.add(code);
  }

  test('server metadata: name, version, extensions (GET /v2 and /v2/)', async () => {
    for (const path of ['/v2', '/v2/']) {
      const res = await api().get(path);
      assert.equal(res.status, 200);
      spec.check('GET', path, res);
      assert.equal(res.body.name, 'protoserve');
      assert.deepEqual(res.body.extensions.sort(), ['binary_tensor_data', 'classification']);
    }
  });

  test('model metadata, versioned and not: name, platform, inputs and outputs with -1 for the batch', async () => {
    for (const path of [`/v2/models/${MODEL}`, `/v2/models/${MODEL}/versions/${version}`]) {
      const res = await api().get(path);
      assert.equal(res.status, 200);
      spec.check('GET', path, res);
      assert.deepEqual(res.body, {
        name: MODEL,
        versions: [version],
        platform: 'onnx_onnxv1',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
        outputs: [{ name: output.name, datatype: 'FP32', shape: [-1, 10] }],
      });
    }
    const faces = await api().get('/v2/models/mobileface');
    assert.deepEqual(faces.body.outputs[0].shape, [-1, 256]);
    expectError(await api().get('/v2/models/nope'), 404, 'MODEL_NOT_FOUND', 'metadata of an unknown model');
    expectError(await api().get(`/v2/models/${MODEL}/versions/0.0.0-nope`), 404, 'MODEL_VERSION_NOT_FOUND', 'metadata of an unknown version');
  });

  test('model readiness, versioned and not', async () => {
    for (const path of [`/v2/models/${MODEL}/ready`, `/v2/models/${MODEL}/versions/${version}/ready`]) {
      const res = await api().get(path);
      assert.equal(res.status, 200);
      spec.check('GET', path, res);
      assert.deepEqual(res.body, { name: MODEL, ready: true });
    }
    expectError(await api().get(`/v2/models/${MODEL}/versions/9/ready`), 404, 'MODEL_VERSION_NOT_FOUND', 'readiness of an unknown version');
  });

  test('inference on a real MNIST digit: the answer validates and its argmax is the digit', async () => {
    const itemsBefore = itemsRun();
    for (const path of [`/v2/models/${MODEL}/infer`, `/v2/models/${MODEL}/versions/${version}/infer`]) {
      const body = { id: 'digit-7', inputs: [{ name: input.name, shape: [1, 1, 28, 28], datatype: 'FP32', data: normalized }] };
      spec.validate('#/components/schemas/inference_request', body);
      const res = await api().post(path).send(body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      spec.check('POST', path, res);
      assert.equal(res.body.model_name, MODEL);
      assert.equal(res.body.model_version, version);
      assert.equal(res.body.id, 'digit-7');
      const [out] = res.body.outputs;
      assert.deepEqual([out.name, out.datatype, out.shape], [output.name, 'FP32', [1, 10]]);
      assert.equal(out.data.length, 10);
      assert.equal(out.data.indexOf(Math.max(...out.data)), digit.label);
    }
    assert.equal(itemsRun(), itemsBefore + 2, 'the scheduler counts the items it ran');
    // The same digit through the image route: the same best label.
    const classified = await api().post(`/v1/models/${MODEL}/classify?top_k=1`).attach('image', (await mnistDigitPng(7)).png, 'd.png');
    assert.equal(classified.body.predictions[0].label, String(digit.label));
  });

  test('a batch of 2 (nested data), the classification extension, binary tensor data', async () => {
    const rows = [normalized, normalized.map(() => 0)];
    const nested = rows.map((r) => [Array.from({ length: 28 }, (_, y) => r.slice(y * 28, y * 28 + 28))]);
    const res = await api()
      .post(`/v2/models/${MODEL}/infer`)
      .send({ inputs: [{ name: input.name, shape: [2, 1, 28, 28], datatype: 'FP32', data: nested }], outputs: [{ name: output.name, parameters: { classification: 2 } }] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    spec.check('POST', `/v2/models/${MODEL}/infer`, res);
    const [out] = res.body.outputs;
    assert.deepEqual([out.datatype, out.shape], ['BYTES', [2, 2]]);
    assert.match(out.data[0], new RegExp(`^[0-9.e+-]+:${digit.label}:${digit.label}$`));

    const json = Buffer.from(JSON.stringify({ inputs: [{ name: input.name, shape: [1, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 784 * 4 } }] }));
    const binary = Buffer.from(new Float32Array(normalized).buffer);
    const bin = await api().post(`/v2/models/${MODEL}/infer`).set('Content-Type', 'application/octet-stream').set('Inference-Header-Content-Length', String(json.length)).send(Buffer.concat([json, binary]));
    assert.equal(bin.status, 200, bin.text);
    spec.check('POST', `/v2/models/${MODEL}/infer`, bin);
    const scores: number[] = bin.body.outputs[0].data;
    assert.equal(scores.indexOf(Math.max(...scores)), digit.label);
  });

  test('malformed requests answer 4xx in the protocol shape and never reach the model', async () => {
    const path = `/v2/models/${MODEL}/infer`;
    const good = { name: input.name, shape: [1, 1, 28, 28], datatype: 'FP32', data: normalized };
    const before = itemsRun();
    const cases: [string, unknown][] = [
      ['wrong datatype', { inputs: [{ ...good, datatype: 'INT32' }] }],
      ['unknown datatype', { inputs: [{ ...good, datatype: 'FLOAT' }] }],
      ['wrong rank', { inputs: [{ ...good, shape: [1, 784] }] }],
      ['wrong fixed dimension', { inputs: [{ ...good, shape: [1, 1, 28, 27], data: normalized.slice(0, 756) }] }],
      ['too few elements', { inputs: [{ ...good, data: normalized.slice(1) }] }],
      ['too many elements', { inputs: [{ ...good, data: [...normalized, 0] }] }],
      ['batch 0', { inputs: [{ ...good, shape: [0, 1, 28, 28], data: [] }] }],
      ['negative dimension', { inputs: [{ ...good, shape: [-1, 1, 28, 28] }] }],
      ['a string element', { inputs: [{ ...good, data: ['1', ...normalized.slice(1)] }] }],
      ['beyond FP32', { inputs: [{ ...good, data: [1e39, ...normalized.slice(1)] }] }],
      ['unknown input', { inputs: [{ ...good, name: 'pixels' }] }],
      ['two inputs', { inputs: [good, good] }],
      ['no inputs', { inputs: [] }],
      ['inputs missing', { id: 'x' }],
      ['unknown output', { inputs: [good], outputs: [{ name: 'logits2' }] }],
      ['id not a string', { id: 7, inputs: [good] }],
      ['bad classification', { inputs: [good], outputs: [{ name: output.name, parameters: { classification: 0 } }] }],
    ];
    for (const [what, body] of cases) expectError(await api().post(path).send(body as object), 400, 'INFERENCE_REQUEST_INVALID', what);
    expectError(await api().post(path).set('Content-Type', 'application/json').send('{"inputs": ['), 400, 'INFERENCE_REQUEST_INVALID', 'not JSON');
    expectError(await api().post(path).set('Content-Type', 'text/plain').send('hello'), 415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain');
    expectError(await api().post(`/v2/models/${MODEL}/versions/0/infer`).send({ inputs: [good] }), 404, 'MODEL_VERSION_NOT_FOUND', 'unknown version');
    expectError(await api().post('/v2/models/nope/infer').send({ inputs: [good] }), 404, 'MODEL_NOT_FOUND', 'unknown model');
    const json = Buffer.from(JSON.stringify({ inputs: [{ ...good, data: undefined, parameters: { binary_data_size: 784 * 4 } }] }));
    const short = Buffer.concat([json, Buffer.alloc(100)]);
    expectError(
      await api().post(path).set('Content-Type', 'application/octet-stream').set('Inference-Header-Content-Length', String(json.length)).send(short),
      400,
      'INFERENCE_REQUEST_INVALID',
      'binary data shorter than binary_data_size',
    );
    const nan = Buffer.from(new Float32Array(784).fill(Number.NaN).buffer);
    expectError(
      await api().post(path).set('Content-Type', 'application/octet-stream').set('Inference-Header-Content-Length', String(json.length)).send(Buffer.concat([json, nan])),
      400,
      'INFERENCE_REQUEST_INVALID',
      'NaN in binary data',
    );
    assert.equal(itemsRun(), before, 'a malformed request reached the model');
  });

  test('every KServe suite code was answered', () => {
    assert.deepEqual(KSERVE_SUITE_CODES.filter((c) => !seen.has(c)), []);
  });
});
