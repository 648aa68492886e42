// The server configuration: defaults, file, environment and flags in that order; every bad value
// stops the start with a message naming the field and where it came from; the README documents
// every field with its default and environment variable.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { configToJson, loadServerConfig } from '../../src/config/load-server-config.js';
import { defaultConfig, envName, FIELDS, schedulerSettingsFor } from '../../src/config/server-config.js';
import { tempDir } from '../infer/tiny-models.js';

describe('loadServerConfig', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  async function file(json: unknown): Promise<string> {
    const path = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    await writeFile(path, typeof json === 'string' ? json : JSON.stringify(json));
    return path;
  }

  test('with nothing set, every field is at its default', async () => {
    const config = await loadServerConfig({ env: {} });
    assert.deepEqual(config, defaultConfig());
    assert.equal(config.limits.maxBodyBytes, 10 * 1024 * 1024);
    assert.equal(config.limits.maxPixels, 24_000_000);
    assert.equal(config.scheduler.maxBatch, 16);
    assert.equal(config.server.adminRoutes, 'loopback');
  });

  test('file < environment < flags; per-model scheduler overrides', async () => {
    const path = await file({
      server: { port: 9000, host: '127.0.0.1' },
      limits: { max_pixels: 1000, max_faces: 4 },
      scheduler: { max_batch: 8, max_delay_ms: 3 },
      models: { big: { max_batch: 2, workers: 3, executor: 'inline' } },
    });
    const config = await loadServerConfig({
      file: path,
      env: { PORT: '9100', PROTOSERVE_LIMITS_MAX_PIXELS: '2000', PROTOSERVE_SCHEDULER_BATCHING: 'false' },
      flags: { 'server.port': '0', 'server.quiet': true },
    });
    assert.equal(config.server.port, 0);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.quiet, true);
    assert.equal(config.limits.maxPixels, 2000);
    assert.equal(config.limits.maxFaces, 4);
    assert.equal(config.scheduler.batching, 'off', 'false stands for off');
    assert.deepEqual(schedulerSettingsFor(config, 'big'), { ...config.scheduler, maxBatch: 2, workers: 3, executor: 'inline' });
    assert.deepEqual(schedulerSettingsFor(config, 'other'), config.scheduler);
    // $PROTOSERVE_CONFIG names the file when --config does not.
    assert.equal((await loadServerConfig({ env: { PROTOSERVE_CONFIG: path } })).server.port, 9000);
    // --print-config writes the file format back.
    const json = configToJson(config) as { limits: Record<string, unknown>; models: Record<string, Record<string, unknown>> };
    assert.equal(json.limits.max_pixels, 2000);
    assert.deepEqual(json.models.big, { executor: 'inline', max_batch: 2, workers: 3 });
  });

  test('scheduler.batching is auto by default and takes on, off, or the booleans it used to be', async () => {
    assert.equal((await loadServerConfig({ env: {} })).scheduler.batching, 'auto');
    const config = await loadServerConfig({ file: await file({ scheduler: { batching: true }, models: { big: { batching: 'off' } } }), env: {} });
    assert.equal(config.scheduler.batching, 'on');
    assert.equal(schedulerSettingsFor(config, 'big').batching, 'off');
    assert.equal((await loadServerConfig({ env: { PROTOSERVE_SCHEDULER_BATCHING: 'auto' } })).scheduler.batching, 'auto');
    assert.equal((configToJson(config) as { scheduler: Record<string, unknown> }).scheduler.batching, 'on');
  });

  const bad: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['a value out of range', async () => loadServerConfig({ file: await file({ limits: { max_pixels: 0 } }), env: {} }), /^limits\.max_pixels \(config file .*\): expected an integer from 1 to \d+, got 0$/],
    ['a string for a number', async () => loadServerConfig({ file: await file({ scheduler: { max_batch: '8' } }), env: {} }), /scheduler\.max_batch .*got "8"/],
    ['a bad environment value', () => loadServerConfig({ env: { PROTOSERVE_LIMITS_MAX_TOP_K: 'many' } }), /^limits\.max_top_k \(\$PROTOSERVE_LIMITS_MAX_TOP_K\): expected an integer/],
    ['a bad $PORT', () => loadServerConfig({ env: { PORT: '99999' } }), /^server\.port \(\$PORT\)/],
    ['an unknown key (a typo)', async () => loadServerConfig({ file: await file({ limits: { max_pixel: 5 } }), env: {} }), /^limits\.max_pixel \(config file .*\): unknown key; expected one of max_body_bytes, max_pixels/],
    ['an unknown section', async () => loadServerConfig({ file: await file({ limit: {} }), env: {} }), /^limit .*unknown section/],
    ['a bad per-model key', async () => loadServerConfig({ file: await file({ models: { big: { max_pixels: 5 } } }), env: {} }), /^models\.big\.max_pixels .*unknown key; expected one of batching, max_batch/],
    ['a bad per-model value', async () => loadServerConfig({ file: await file({ models: { big: { executor: 'gpu' } } }), env: {} }), /^models\.big\.executor .*expected one of worker, inline, got "gpu"/],
    ['a bad enum', () => loadServerConfig({ env: { PROTOSERVE_SERVER_ADMIN_ROUTES: 'everyone' } }), /server\.admin_routes .*expected one of loopback, any, off/],
    ['a bad batching mode', async () => loadServerConfig({ file: await file({ scheduler: { batching: 'sometimes' } }), env: {} }), /^scheduler\.batching .*expected one of auto, on, off \(or true, false\), got "sometimes"/],
    ['a bad boolean', () => loadServerConfig({ env: { PROTOSERVE_SERVER_QUIET: 'maybe' } }), /server\.quiet .*expected true or false/],
    ['invalid JSON', async () => loadServerConfig({ file: await file('{"limits": '), env: {} }), /is not valid JSON/],
    ['a missing file', () => loadServerConfig({ file: join(dir, 'nope.json'), env: {} }), /Cannot read config file .*nope\.json: no such file/],
    ['a section that is not an object', async () => loadServerConfig({ file: await file({ limits: 5 }), env: {} }), /^limits .*expected an object, got 5/],
  ];
  for (const [what, load, message] of bad) {
    test(`${what} stops the start with CONFIG_INVALID naming the field`, async () => {
      await assert.rejects(load(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CONFIG_INVALID');
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test('the README documents every field with its environment variable and default', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    for (const f of FIELDS) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${f.section}.${f.key}\``));
      assert.ok(row, `README has no row for ${f.section}.${f.key}`);
      assert.ok(row.includes(`\`${envName(f)}\``), `${f.section}.${f.key}: README row lacks ${envName(f)}`);
    }
  });
});
