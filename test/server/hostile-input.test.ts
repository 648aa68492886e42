// The hostile-input corpus (hostile-corpus.ts) against a real server, ROUNDS times: every case
// gets its status and error code each time, the server stays healthy and answers a plain request
// correctly afterwards, and its retained heap does not grow from round to round.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import request from 'supertest';

import { defaultConfig } from '../../src/config/server-config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { colorEmbedder, meanIntensityClassifier, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';
import { hostileCorpus, UNICODE_ID, type HostileCase, type Outcome } from './hostile-corpus.js';
import { HOSTILE_SUITE_CODES } from './security-suite-codes.js';

const ROUNDS = 4;
const LIMITS = { maxBodyBytes: 256 * 1024, headersTimeoutMs: 400, requestTimeoutMs: 800 };
/** Retained-heap growth allowed between round 2 and the last (GC noise is about 1-2 MB here). */
const HEAP_SLACK_BYTES = 8 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Prediction {
  label: string;
  score: number;
}

/** Same labels in the same order, scores within 0.02 (JPEG and CMYK round trips move pixels a little). */
function samePredictions(got: Prediction[] | undefined, want: Prediction[]): boolean {
  return got !== undefined && got.length === want.length && got.every((p, i) => p.label === want[i].label && Math.abs(p.score - want[i].score) < 0.02);
}

function retainedHeap(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

describe('hostile input', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let running: RunningServer;
  let corpus: HostileCase[];
  let plain: Prediction[];
  const outcomes = new Map<string, Outcome[]>();
  const heap: number[] = [];
  const took: [string, number][] = [];
  const refusedLog: string[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeModels(join(dir, 'models'), [meanIntensityClassifier(), colorEmbedder({ size: 16 })]);
    const c = defaultConfig();
    running = await startServer({
      config: {
        ...c,
        server: { ...c.server, models: join(dir, 'models'), galleries: join(dir, 'galleries'), port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, headersTimeoutMs: LIMITS.headersTimeoutMs, requestTimeoutMs: LIMITS.requestTimeoutMs },
        limits: { ...c.limits, maxBodyBytes: LIMITS.maxBodyBytes },
      },
      log: (line) => (line.startsWith('refused') ? refusedLog.push(line) : undefined),
      logError: () => {},
    });
    await running.ready;
    assert.equal((await request(running.url).post('/v1/galleries').send({ name: 'hostile', model: 'color-embedder' })).status, 201);
    for (const id of ['probe', UNICODE_ID]) assert.equal((await request(running.url).post('/v1/galleries/hostile/identities').send({ id })).status, 201);
    plain = (await request(running.url).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(await solidPng(28, 28, 200))).body.predictions;
    corpus = await hostileCorpus(LIMITS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of corpus) {
        const list = outcomes.get(c.name) ?? [];
        const start = performance.now();
        list.push(await c.send(running.url));
        if (round === 0) took.push([c.name, performance.now() - start]);
        outcomes.set(c.name, list);
      }
      heap.push(retainedHeap());
    }
  });
  after(async () => {
    await running?.close();
    await cleanup();
  });

  test('the corpus holds every kind of hostile input the issue names', () => {
    const names = corpus.map((c) => c.name).join('\n');
    for (const kind of [/random bytes/, /empty body/, /truncated/, /bomb/, /1x1/, /16-bit/, /CMYK/, /animated/, /text\/plain/, /malformed JSON/, /nested/, /400 digits/, /NaN/, /Infinity/, /unicode/, /path-like/, /headers of 64 KB/, /multipart part headers/, /slow/]) {
      assert.match(names, kind);
    }
  });

  test('each case is answered as expected, every round, with a registry code on every 4xx', () => {
    const wrong: string[] = [];
    for (const c of corpus) {
      for (const [round, got] of (outcomes.get(c.name) ?? []).entries()) {
        if (c.expect === 'same' || c.expect === 'same-label') {
          const predictions = (got.body as { predictions?: Prediction[] }).predictions;
          const ok = c.expect === 'same' ? samePredictions(predictions, plain) : predictions?.[0]?.label === plain[0].label;
          if (got.status !== 200 || !ok) wrong.push(`${c.name} (round ${round + 1}): ${got.status} ${JSON.stringify(got.body).slice(0, 200)}`);
        } else if (got.status !== c.expect.status || got.code !== c.expect.code) {
          wrong.push(`${c.name} (round ${round + 1}): expected ${c.expect.status} ${c.expect.code}, got ${got.status} ${got.code ?? JSON.stringify(got.body)?.slice(0, 200)}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
    const refused = corpus.filter((c) => typeof c.expect === 'object').length;
    assert.ok(refused >= 35, `${refused} refusals`);
  });

  test('requests the HTTP layer refused are logged and counted with their codes', async () => {
    for (const code of HOSTILE_SUITE_CODES) assert.ok(refusedLog.some((l) => l.includes(code)), `${code} in ${refusedLog.slice(0, 3).join('\n')}`);
    const metrics = await request(running.url).get('/metrics');
    for (const code of HOSTILE_SUITE_CODES) assert.match(metrics.text, new RegExp(`^protoserve_http_errors_total\\{code="${code}"\\} ${ROUNDS * 2}$`, 'm'));
  });

  test('the server is healthy afterwards and answers a plain request correctly', async () => {
    assert.equal((await request(running.url).get('/v2/health/ready')).status, 200);
    const res = await request(running.url).post('/v1/models/mean-probs/classify').set('Content-Type', 'image/png').send(await solidPng(28, 28, 200));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.predictions, plain);
    const gallery = await request(running.url).get('/v1/galleries/hostile');
    assert.deepEqual([gallery.status, gallery.body.gallery.identities, gallery.body.gallery.faces], [200, 2, 0]);
    const odd = await request(running.url).get(`/v1/galleries/hostile/identities/${encodeURIComponent(UNICODE_ID)}`);
    assert.deepEqual([odd.status, odd.body.identity?.id], [200, UNICODE_ID]);
    const probe = await request(running.url).get('/v1/galleries/hostile/identities/probe');
    assert.deepEqual(probe.body.identity?.metadata, {});
  });

  test(`retained heap is flat across rounds (growth from round 2 to ${ROUNDS} under ${HEAP_SLACK_BYTES / 2 ** 20} MB)`, () => {
    const mb = heap.map((b) => (b / 2 ** 20).toFixed(1));
    const slowest = took.sort((a, b) => b[1] - a[1]).slice(0, 4).map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`);
    console.log(`hostile corpus: slowest cases of round 1: ${slowest.join('; ')}`);
    console.log(`hostile corpus: ${corpus.length} cases x ${ROUNDS} rounds; retained heap after each round (MB): ${mb.join(', ')}`);
    assert.ok(heap[ROUNDS - 1] - heap[1] < HEAP_SLACK_BYTES, mb.join(', '));
  });
});
