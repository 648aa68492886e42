// API keys, scopes, CORS, request ids, JSON logs, /metrics and the execution provider in
// /v1/models, on a real server (startServer) over tiny ONNX models and a galleries folder.
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import request from 'supertest';

import { defaultConfig, type ServerConfig } from '../../src/config/server-config.js';
import { hashApiKey } from '../../src/server/auth/api-key.js';
import { AccessControl } from '../../src/server/auth/access-control.js';
import { KeyRing } from '../../src/server/auth/key-ring.js';
import { keysCommand } from '../../src/server/auth/keys-command.js';
import { parseKeyRecords } from '../../src/server/auth/key-store.js';
import { formatLogLine } from '../../src/server/log-sink.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { colorEmbedder, meanIntensityClassifier, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';
import { SECURITY_SUITE_CODES } from './security-suite-codes.js';

const seen = new Set<string>();
function expectError(res: request.Response, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error?.code, code, JSON.stringify(res.body));
  assert.ok(typeof res.body.error.message === 'string' && res.body.error.message.length > 0);
  seen.add(code);
}

/** `protoserve keys create` into `file`; returns the key it printed. */
async function createKey(file: string, scopes: string, name?: string): Promise<string> {
  const out: string[] = [];
  assert.equal(await keysCommand(['create', '--scopes', scopes, '--file', file, ...(name ? ['--name', name] : [])], { out: (l) => out.push(l), note: () => {} }), 0);
  assert.equal(out.length, 1);
  return out[0];
}

function config(dir: string, server: Partial<ServerConfig['server']>): ServerConfig {
  const c = defaultConfig();
  return { ...c, server: { ...c.server, models: join(dir, 'models'), galleries: join(dir, 'galleries'), port: 0, device: 'cpu', ...server } };
}

describe('API keys (protoserve keys, key file)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  test('create prints the key once and stores only its sha256, in a file only its owner may read', async () => {
    const file = join(dir, 'keys.json');
    const key = await createKey(file, 'infer,gallery:write', 'ci');
    assert.match(key, /^psk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes(key.slice(17)), 'the key file holds no secret');
    const stored = JSON.parse(text).keys[0];
    assert.equal(stored.sha256, hashApiKey(key).toString('hex'));
    assert.deepEqual(stored.scopes, ['infer', 'gallery:write']);
    assert.equal(stored.name, 'ci');
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    const listed: string[] = [];
    await keysCommand(['list', '--file', file], { out: (l) => listed.push(l) });
    assert.match(listed.join('\n'), new RegExp(`${stored.id}\\s+infer,gallery:write`));
    assert.ok(!listed.join('\n').includes(key));

    await keysCommand(['revoke', stored.id, '--file', file], { out: () => {} });
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')).keys, []);
    await assert.rejects(keysCommand(['revoke', stored.id, '--file', file], { out: () => {} }), { code: 'API_KEY_NOT_FOUND' });
    await assert.rejects(keysCommand(['create', '--scopes', 'root', '--file', file], { out: () => {} }), { code: 'API_KEYS_INVALID', message: /unknown scope "root"/ });
  });

  test('--record prints a record for PROTOSERVE_API_KEYS that a key ring accepts', async () => {
    const out: string[] = [];
    await keysCommand(['create', '--scopes', 'metrics', '--record'], { out: (l) => out.push(l) });
    const key = out[0].replace(/^key: +/, '');
    const record = out[1].replace(/^record: +/, '');
    const ring = await KeyRing.load({ records: parseKeyRecords(record, 'test') });
    assert.deepEqual(ring.verify(key)?.scopes, ['metrics']);
    // The right id with a wrong secret, a wrong id, and not a key at all: each refused.
    assert.equal(ring.verify(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`), undefined);
    assert.equal(ring.verify(key.replace(/^psk_[0-9a-f]{12}/, 'psk_000000000000')), undefined);
    assert.equal(ring.verify('hunter2'), undefined);
  });

  test('keys are required beyond loopback by default, optional on loopback, off only when configured', async () => {
    const none = join(dir, 'none.json');
    await assert.rejects(AccessControl.fromConfig({ auth: 'auto', host: '0.0.0.0', apiKeyFile: none, apiKeys: undefined }), { code: 'AUTH_NO_KEYS', message: /protoserve keys create/ });
    await assert.rejects(AccessControl.fromConfig({ auth: 'on', host: '127.0.0.1', apiKeyFile: none, apiKeys: undefined }), { code: 'AUTH_NO_KEYS' });
    assert.equal((await AccessControl.fromConfig({ auth: 'auto', host: '127.0.0.1', apiKeyFile: none, apiKeys: undefined })).required, false);
    assert.equal((await AccessControl.fromConfig({ auth: 'auto', host: '::1', apiKeyFile: none, apiKeys: undefined })).required, false);
    const open = await AccessControl.fromConfig({ auth: 'off', host: '0.0.0.0', apiKeyFile: none, apiKeys: undefined });
    assert.equal(open.required, false);
    assert.match(open.why, /every client that reaches 0\.0\.0\.0 may call every route/);
    const file = join(dir, 'some.json');
    await createKey(file, 'infer');
    assert.equal((await AccessControl.fromConfig({ auth: 'auto', host: '0.0.0.0', apiKeyFile: file, apiKeys: undefined })).required, true);
  });

  test('a malformed key file or record stops the start naming the entry', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ format: 'protoserve-api-keys', version: 1, keys: [{ id: 'abc', sha256: 'x', scopes: ['infer'] }] }));
    await assert.rejects(AccessControl.fromConfig({ auth: 'on', host: '127.0.0.1', apiKeyFile: file, apiKeys: undefined }), { code: 'API_KEYS_INVALID', message: /keys\[0\]: id: expected 12 hex digits/ });
    await assert.rejects(AccessControl.fromConfig({ auth: 'on', host: '127.0.0.1', apiKeyFile: join(dir, 'none.json'), apiKeys: 'psk_secret' }), { code: 'API_KEYS_INVALID', message: /record 1/ });
  });

  test('a running server picks up a revoked key from the key file', async () => {
    const file = join(dir, 'watched.json');
    const key = await createKey(file, 'infer');
    const ring = await KeyRing.load({ file });
    let reloads = 0;
    ring.watch({ intervalMs: 20, onReload: () => reloads++ });
    try {
      assert.ok(ring.verify(key));
      await keysCommand(['revoke', ring.verify(key)!.id, '--file', file], { out: () => {} });
      for (let i = 0; i < 200 && reloads === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(ring.verify(key), undefined);
    } finally {
      ring.close();
    }
  });
});

describe('a server with API keys, metrics and JSON logs', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let running: RunningServer;
  const keys: Record<string, string> = {};
  const lines: string[] = [];
  let png: Buffer;
  let face: Buffer;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeModels(join(dir, 'models'), [meanIntensityClassifier(), colorEmbedder({ size: 16 })]);
    const file = join(dir, 'api-keys.json');
    for (const scopes of ['infer', 'gallery:write', 'metrics', 'admin']) keys[scopes] = await createKey(file, scopes);
    keys.both = await createKey(file, 'infer,gallery:write');
    // The JSON sink's own formatting, collected instead of printed.
    const sink = (level: 'info' | 'error') => (message: string, fields?: Record<string, unknown>) => lines.push(formatLogLine('json', level, message, fields));
    running = await startServer({ config: config(dir, { auth: 'on', host: '127.0.0.1', apiKeyFile: file }), log: sink('info'), logError: sink('error') });
    await running.ready;
    png = await solidPng(28, 28, 200);
    face = await solidPng(16, 16, [200, 40, 40]);
  });
  after(async () => {
    await running.close();
    await cleanup();
  });

  const as = (scope: string) => ({ Authorization: `Bearer ${keys[scope]}` });

  test('without a key: 401 API_KEY_REQUIRED with a Bearer challenge; health needs none', async () => {
    const res = await request(running.url).get('/v1/models');
    expectError(res, 401, 'API_KEY_REQUIRED');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="protoserve"');
    expectError(await request(running.url).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(png), 401, 'API_KEY_REQUIRED');
    expectError(await request(running.url).get('/v1/no-such-route'), 401, 'API_KEY_REQUIRED');
    assert.equal((await request(running.url).get('/v2/health/live')).status, 200);
    assert.equal((await request(running.url).get('/v2/health/ready')).status, 200);
  });

  test('a wrong or revoked key: 401 API_KEY_INVALID', async () => {
    const forged = keys.admin.slice(0, -4) + 'AAAA';
    const res = await request(running.url).get('/v1/models').set('Authorization', `Bearer ${forged}`);
    expectError(res, 401, 'API_KEY_INVALID');
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    expectError(await request(running.url).get('/v1/models').set('X-API-Key', 'psk_nonsense'), 401, 'API_KEY_INVALID');
    expectError(await request(running.url).get('/v1/models').set({ ...as('infer'), 'X-API-Key': keys.admin }), 401, 'API_KEY_INVALID');
  });

  test('each route asks for its scope: infer, gallery:write, metrics, admin (admin may do all)', async () => {
    const classify = (scope: string) => request(running.url).post('/v1/models/mean-probs/classify').set(as(scope)).set('Content-Type', 'image/png').send(png);
    assert.equal((await classify('infer')).status, 200);
    assert.equal((await request(running.url).post('/v1/models/mean-probs/classify').set('X-API-Key', keys.infer).set('Content-Type', 'image/png').send(png)).status, 200);
    assert.equal((await classify('admin')).status, 200);
    const denied = await classify('gallery:write');
    expectError(denied, 403, 'INSUFFICIENT_SCOPE');
    assert.match(denied.body.error.message, /needs the scope "infer"/);
    assert.match(String(denied.headers['www-authenticate']), /error="insufficient_scope", scope="infer"/);

    const create = (scope: string, name: string) => request(running.url).post('/v1/galleries').set(as(scope)).send({ name, model: 'color-embedder' });
    expectError(await create('infer', 'g1'), 403, 'INSUFFICIENT_SCOPE');
    assert.equal((await create('both', 'g1')).status, 201);
    assert.equal((await request(running.url).post('/v1/galleries/g1/identities').set(as('both')).send({ id: 'ada' })).status, 201);
    const enrol = await request(running.url).post('/v1/galleries/g1/identities/ada/faces?input=aligned').set(as('both')).attach('image', face, 'a.png');
    assert.equal(enrol.status, 201, JSON.stringify(enrol.body));
    expectError(await request(running.url).delete('/v1/galleries/g1/identities/ada').set(as('infer')), 403, 'INSUFFICIENT_SCOPE');
    assert.equal((await request(running.url).get('/v1/galleries/g1').set(as('infer'))).status, 200);

    expectError(await request(running.url).get('/metrics').set(as('infer')), 403, 'INSUFFICIENT_SCOPE');
    assert.equal((await request(running.url).get('/metrics').set(as('metrics'))).status, 200);
    expectError(await request(running.url).post('/v1/models/mean-probs/unload').set(as('both')), 403, 'INSUFFICIENT_SCOPE');
    assert.equal((await request(running.url).post('/v1/models/mean-probs/load').set(as('admin'))).status, 200);
  });

  test('/v1/models names the execution provider of each model', async () => {
    const res = await request(running.url).get('/v1/models').set(as('infer'));
    assert.equal(res.status, 200);
    for (const m of res.body.models) assert.deepEqual([m.name, m.executionProvider, m.device], [m.name, 'cpu', 'cpu']);
  });

  test('every answer carries X-Request-Id; a sane one from the client is kept, anything else replaced', async () => {
    const mine = await request(running.url).get('/v2/health/live').set('X-Request-Id', 'trace-42.a:b');
    assert.equal(mine.headers['x-request-id'], 'trace-42.a:b');
    const odd = await request(running.url).get('/v2/health/live').set('X-Request-Id', 'a b<script>');
    assert.match(String(odd.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const error = await request(running.url).get('/v1/models');
    assert.match(String(error.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('log lines are JSON with the request id, route pattern, status, duration, key id and error code', async () => {
    const res = await request(running.url).post('/v1/models/mean-probs/classify?top_k=1').set(as('infer')).set('X-Request-Id', 'log-check-1').set('Content-Type', 'image/png').send(png);
    assert.equal(res.status, 200);
    const denied = await request(running.url).get('/v1/models').set('X-Request-Id', 'log-check-2');
    assert.equal(denied.status, 401);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const ok = records.find((r) => r.request_id === 'log-check-1');
    assert.ok(ok, lines.slice(-3).join('\n'));
    assert.equal(ok.level, 'info');
    assert.equal(ok.route, '/v1/models/:name/classify');
    assert.equal(ok.status, 200);
    assert.equal(ok.model, 'mean-probs');
    assert.equal(ok.key_id, keys.infer.slice(4, 16));
    assert.equal(ok.path, '/v1/models/mean-probs/classify');
    assert.ok(typeof ok.duration_ms === 'number' && typeof ok.time === 'string');
    assert.ok(!lines.some((l) => l.includes(keys.infer)), 'no key is ever logged');
    const bad = records.find((r) => r.request_id === 'log-check-2');
    assert.deepEqual([bad?.status, bad?.error], [401, 'API_KEY_REQUIRED']);
    assert.ok(records.some((r) => typeof r.msg === 'string' && /API keys are required \(server.auth is "on"\): 5 keys/.test(r.msg)));
  });

  test('/metrics: requests by route and status, latency, batches, inference per provider, queues, galleries', async () => {
    for (let i = 0; i < 3; i++) await request(running.url).post('/v1/models/mean-probs/classify').set(as('infer')).set('Content-Type', 'image/png').send(png);
    const res = await request(running.url).get('/metrics').set(as('metrics'));
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.text;
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);
    assert.ok(value(/^protoserve_http_requests_total\{method="POST",route="\/v1\/models\/:name\/classify",status="200"\} (\d+)$/m) >= 3, text.slice(0, 2000));
    assert.ok(value(/^protoserve_http_requests_total\{method="GET",route="unmatched",status="401"\} (\d+)$/m) >= 1);
    assert.ok(value(/^protoserve_http_request_duration_seconds_count\{method="POST",route="\/v1\/models\/:name\/classify",status="200"\} (\d+)$/m) >= 3);
    assert.ok(value(/^protoserve_http_errors_total\{code="INSUFFICIENT_SCOPE"\} (\d+)$/m) >= 1);
    assert.ok(value(/^protoserve_batch_size_count\{model="mean-probs"\} (\d+)$/m) >= 3);
    assert.ok(value(/^protoserve_inference_duration_seconds_count\{model="mean-probs",provider="cpu"\} (\d+)$/m) >= 3);
    assert.ok(value(/^protoserve_queue_wait_seconds_count\{model="mean-probs"\} (\d+)$/m) >= 3);
    assert.equal(value(/^protoserve_queue_depth\{model="mean-probs"\} (\d+)$/m), 0);
    assert.equal(value(/^protoserve_model_state\{model="mean-probs",state="ready"\} (\d+)$/m), 1);
    assert.equal(value(/^protoserve_gallery_identities\{gallery="g1"\} (\d+)$/m), 1);
    assert.equal(value(/^protoserve_gallery_faces\{gallery="g1"\} (\d+)$/m), 1);
    assert.match(text, /^protoserve_model_info\{model="color-embedder",version="2",task="embedder",device="cpu",provider="cpu"\} 1$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.match(text, /^protoserve_decode_queue_depth 0$/m);
  });

  test('CORS is off by default: no Access-Control headers for any origin', async () => {
    const res = await request(running.url).options('/v1/models').set('Origin', 'https://evil.example').set('Access-Control-Request-Method', 'POST');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const get = await request(running.url).get('/v2/health/live').set('Origin', 'https://evil.example');
    assert.equal(get.headers['access-control-allow-origin'], undefined);
  });

  test('the security suite answered each of its codes', () => {
    assert.deepEqual(SECURITY_SUITE_CODES.filter((c) => !seen.has(c)), []);
  });
});

describe('CORS when configured', () => {
  test('listed origins get the headers and a preflight; others get none; a wrong origin stops the start', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeModels(join(dir, 'models'), [meanIntensityClassifier()]);
      const running = await startServer({ config: config(dir, { host: '127.0.0.1', corsOrigins: 'https://app.example.com', quiet: true }), log: () => {}, logError: () => {} });
      try {
        const pre = await request(running.url).options('/v1/models/mean-probs/classify').set('Origin', 'https://app.example.com').set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'Authorization, Content-Type');
        assert.equal(pre.status, 204);
        assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com');
        assert.match(String(pre.headers['access-control-allow-headers']), /Authorization/);
        const get = await request(running.url).get('/v1/models').set('Origin', 'https://app.example.com');
        assert.equal(get.headers['access-control-allow-origin'], 'https://app.example.com');
        assert.match(String(get.headers['access-control-expose-headers']), /X-Request-Id/);
        const other = await request(running.url).get('/v1/models').set('Origin', 'https://evil.example');
        assert.equal(other.headers['access-control-allow-origin'], undefined);
      } finally {
        await running.close();
      }
      await assert.rejects(startServer({ config: config(dir, { host: '127.0.0.1', corsOrigins: 'https://app.example.com/path', quiet: true }), log: () => {}, logError: () => {} }), { code: 'CONFIG_INVALID', message: /server.cors_origins/ });
    } finally {
      await cleanup();
    }
  });
});
