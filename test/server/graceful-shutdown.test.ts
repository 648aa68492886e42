// SIGTERM on a real `protoserve serve` process: it stops taking connections, lets a request whose
// body is still arriving finish with its answer, closes the galleries (their lock is released,
// every enrolment is there on reopening) and exits 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';

import request from 'supertest';

import { Galleries } from '../../src/gallery/gallery-registry.js';
import { colorEmbedder, meanIntensityClassifier, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Starts `protoserve serve` (JSON logs) and resolves with its URL once every model is ready. */
function serve(dir: string): Promise<{ child: ChildProcess; url: string; lines: Record<string, unknown>[] }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'serve', '--models', join(dir, 'models'), '--galleries', join(dir, 'galleries'), '--port', '0', '--host', '127.0.0.1', '--device', 'cpu', '--log-format', 'json'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    let url = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        child.kill('SIGKILL');
        return reject(new Error(`a log line that is not JSON: ${line}`));
      }
      lines.push(record);
      const msg = String(record.msg);
      url ||= /^listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(msg)?.[1] ?? '';
      if (msg.startsWith('ready: ')) resolve({ child, url, lines });
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before it was ready: ${stderr}`)));
  });
}

describe('graceful shutdown on SIGTERM', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeModels(join(dir, 'models'), [meanIntensityClassifier(), colorEmbedder({ size: 16 })]);
  });
  after(() => cleanup());

  test('an in-flight request finishes, new connections are refused, galleries are closed, exit 0', { timeout: 120_000 }, async () => {
    const { child, url, lines } = await serve(dir);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      assert.equal((await request(url).post('/v1/galleries').send({ name: 'g1', model: 'color-embedder' })).status, 201);
      assert.equal((await request(url).post('/v1/galleries/g1/identities').send({ id: 'ada' })).status, 201);
      const enrol = await request(url).post('/v1/galleries/g1/identities/ada/faces?input=aligned').attach('image', await solidPng(16, 16, [200, 40, 40]), 'a.png');
      assert.equal(enrol.status, 201, JSON.stringify(enrol.body));

      // A classification whose body is half sent when SIGTERM arrives.
      const png = await solidPng(28, 28, 200);
      const { port } = new URL(url);
      const answer = new Promise<{ res: IncomingMessage; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/models/mean-probs/classify', headers: { 'Content-Type': 'image/png', 'Content-Length': png.length } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ res, body }));
        });
        req.on('error', reject);
        req.write(png.subarray(0, 20));
        setTimeout(() => {
          child.kill('SIGTERM');
          // The listener closes at once; the request in flight is still being answered.
          setTimeout(() => {
            const probe = httpRequest({ host: '127.0.0.1', port, path: '/v2/health/live' });
            probe.on('error', (err: NodeJS.ErrnoException) => {
              lines.push({ probe: err.code });
              req.end(png.subarray(20));
            });
            probe.on('response', () => {
              lines.push({ probe: 'answered' });
              req.end(png.subarray(20));
            });
            probe.end();
          }, 300);
        }, 300);
      });
      const { res, body } = await answer;
      assert.equal(res.statusCode, 200, body);
      assert.equal(JSON.parse(body).predictions.length, 3);
      assert.equal(res.headers.connection, 'close');
      assert.deepEqual(lines.find((l) => 'probe' in l), { probe: 'ECONNREFUSED' });
      assert.equal(await exited, 0);
      assert.ok(lines.some((l) => l.msg === 'SIGTERM: closing'));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    // The gallery folder's lock is free and the enrolment is there.
    const galleries = await Galleries.open(join(dir, 'galleries'));
    try {
      const gallery = galleries.list().find((g) => g.name === 'g1');
      assert.deepEqual([gallery?.identityCount, gallery?.faceCount], [1, 1]);
    } finally {
      await galleries.close();
    }
  });
});
