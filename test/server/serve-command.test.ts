// startServer / serveCommand on a temp models folder: start-up lines, broken artifacts, devices.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import request from 'supertest';

import { planSessions } from '../../src/infer/session-plan.js';
import { serveCommand, SERVE_USAGE } from '../../src/server/serve-command.js';
import { startServer } from '../../src/server/server.js';
import { colorEmbedder, meanIntensityClassifier, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';

const CUDA_PROVIDER = existsSync(join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));

describe('startServer', () => {
  let modelsDir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: modelsDir, cleanup } = await tempDir());
    await writeModels(modelsDir, [meanIntensityClassifier(), colorEmbedder({ size: 16 })]);
    await mkdir(join(modelsDir, 'broken'));
    await writeFile(join(modelsDir, 'broken', 'manifest.json'), '{"schema": 1}');
  });
  after(() => cleanup());

  test('loads every artifact, says which provider runs each, skips broken ones, becomes ready', async () => {
    const logs: string[] = [];
    const errors: string[] = [];
    const running = await startServer({ modelsDir, port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: (l) => logs.push(l), logError: (l) => errors.push(l) });
    try {
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      // Sessions are auto by default: one per core (up to the cap) on CPU; batching auto: none on CPU.
      const sessions = planSessions({ workers: 0, intraOpThreads: 0 }, 'cpu').sessions;
      const threads = `${sessions} worker thread${sessions === 1 ? '' : 's'}`;
      assert.ok(logs.includes(`model mean-probs 1.0.0 (classifier, mean-probs/) runs on cpu, ${threads}, one image per run`), logs.join('\n'));
      assert.ok(logs.includes(`model color-embedder 2 (embedder, color-embedder/) runs on cpu, ${threads}, one image per run`));
      assert.ok(errors.some((l) => l.includes('broken') && l.includes('MANIFEST_INVALID')), errors.join('\n'));
      assert.equal((await request(running.url).get('/v2/health/live')).status, 200);
      await running.ready;
      assert.equal((await request(running.url).get('/v2/health/ready')).status, 200);
      assert.ok(logs.some((l) => l.startsWith('ready: ')));
      const list = await request(running.url).get('/v1/models');
      assert.deepEqual(list.body.models.map((m: { name: string; executionProvider: string }) => `${m.name}@${m.executionProvider}`), ['color-embedder@cpu', 'mean-probs@cpu']);
      assert.deepEqual(list.body.unavailable.map((u: { folder: string }) => u.folder), ['broken']);
      const res = await request(running.url).post('/v1/models/mean-probs/classify').attach('image', await solidPng(28, 28, 255), 'white.png');
      assert.equal(res.status, 200);
      assert.equal(res.body.predictions[0].label, 'bright');
    } finally {
      await running.close();
    }
  });

  test('an unknown device, a missing models folder and a busy port are refused with their codes', async () => {
    await assert.rejects(startServer({ modelsDir, port: 0, device: 'tpu', quiet: true, log: () => {} }), { code: 'UNSUPPORTED_DEVICE' });
    await assert.rejects(startServer({ modelsDir: join(modelsDir, 'nope'), port: 0, quiet: true, log: () => {} }), { code: 'MODELS_DIR_NOT_FOUND' });
    const first = await startServer({ modelsDir, port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {}, logError: () => {} });
    try {
      await assert.rejects(startServer({ modelsDir, port: first.port, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {}, logError: () => {} }), { code: 'LISTEN_FAILED', message: /port in use/ });
    } finally {
      await first.close();
    }
  });

  // Which branch runs is known before the test: is the CUDA provider installed, is there a GPU.
  test('explicit --device cuda without the CUDA provider refuses to start: DEVICE_UNAVAILABLE, no silent cpu fallback', { skip: CUDA_PROVIDER && 'the CUDA provider is installed here' }, async () => {
    const logs: string[] = [];
    await assert.rejects(startServer({ modelsDir, port: 0, host: '127.0.0.1', device: 'cuda', quiet: true, log: (l) => logs.push(l), logError: () => {} }), { code: 'DEVICE_UNAVAILABLE' });
    assert.ok(logs.every((l) => !/runs on cpu/.test(l)), logs.join('\n'));
  });

  test('explicit --device cuda with the CUDA provider and a GPU serves every model on cuda', { skip: !(CUDA_PROVIDER && existsSync('/dev/nvidia0')) && 'no CUDA provider or no NVIDIA device here' }, async () => {
    const logs: string[] = [];
    const running = await startServer({ modelsDir, port: 0, host: '127.0.0.1', device: 'cuda', quiet: true, log: (l) => logs.push(l), logError: () => {} });
    try {
      const list = await request(running.url).get('/v1/models');
      assert.deepEqual(list.body.models.map((m: { executionProvider: string }) => m.executionProvider), ['cuda', 'cuda']);
      assert.ok(logs.every((l) => !/runs on cpu/.test(l)), logs.join('\n'));
    } finally {
      await running.close();
    }
  });
});

describe('serveCommand', () => {
  test('--help prints the usage and returns', async () => {
    const out: string[] = [];
    await serveCommand(['--help'], { log: (l) => out.push(l) });
    assert.deepEqual(out, [SERVE_USAGE]);
    assert.match(SERVE_USAGE, /--device <name>\s+auto \| cpu \| cuda \| webgpu/);
  });

  test('bad flags are INVALID_ARGUMENT or UNSUPPORTED_DEVICE, naming the flag', async () => {
    await assert.rejects(serveCommand(['--port', 'abc']), { code: 'INVALID_ARGUMENT', message: /--port: expected an integer from 0 to 65535, got "abc"/ });
    await assert.rejects(serveCommand(['--port', '70000']), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(serveCommand(['--bogus']), { code: 'INVALID_ARGUMENT', message: /bogus/ });
    await assert.rejects(serveCommand(['--max-body-mb', '0']), { code: 'INVALID_ARGUMENT', message: /--max-body-mb/ });
    await assert.rejects(serveCommand(['--device', 'x', '--port', '0']), { code: 'UNSUPPORTED_DEVICE', message: 'Unsupported device: "x". Should be one of: auto, cpu, cuda, webgpu' });
  });

  test('serves until stopped, then resolves', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeModels(dir, [meanIntensityClassifier()]);
      const controller = new AbortController();
      const lines: string[] = [];
      let url = '';
      const done = serveCommand(['--models', dir, '--galleries', join(dir, 'galleries'), '--port', '0', '--host', '127.0.0.1', '--device', 'cpu'], {
        signal: controller.signal,
        log: (l) => lines.push(l),
        onListening: (running) => {
          url = running.url;
          void running.ready.then(() => controller.abort());
        },
      });
      await done;
      assert.ok(url.startsWith('http://127.0.0.1:'));
      assert.ok(lines.some((l) => l.includes('runs on cpu')));
      assert.ok(lines.some((l) => l.startsWith('listening on http://127.0.0.1:')));
      assert.equal(lines.at(-1), 'stopped: closing');
    } finally {
      await cleanup();
    }
  });
});
