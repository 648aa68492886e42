// Persistence under kill -9: a real server process (protoserve serve) takes a stream of
// concurrent enrolments and is killed with SIGKILL at a random moment, several times, with
// snapshots every few kilobytes so that kills also land while a snapshot is written. After each
// restart every acknowledged face must be there, every face there must be whole (its embedding
// is the one its image gives), and the searched prototypes must be the means of those faces.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { colorEmbedder, colorEmbedding, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';

type RGB = [number, number, number];
const ROOT = new URL('../..', import.meta.url).pathname;
const IDENTITIES = ['ann', 'ben', 'cat', 'dan'];
const ROUNDS = 3;
const CONCURRENCY = 8;

let tmp: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  tmp = await tempDir('protoserve-kill-');
  await writeModels(join(tmp.dir, 'models'), [colorEmbedder({ size: 16 })]);
});
after(() => tmp.cleanup());

interface Server {
  child: ChildProcess;
  url: string;
  output: () => string;
}

async function startServer(): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'serve', '--models', join(tmp.dir, 'models'), '--galleries', join(tmp.dir, 'galleries'), '--port', '0', '--host', '127.0.0.1', '--device', 'cpu', '--quiet'],
    { cwd: ROOT, env: { ...process.env, PROTOSERVE_SERVER_GALLERY_CHECKPOINT_BYTES: '4096' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /listening on \S*\s*(http:\/\/[\d.:]+)/.exec(out) ?? /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${out}`)));
  });
  return { child, url, output: () => out };
}

async function kill(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

/** A distinct colour per enrolment, so each stored face can be traced to its image. */
function colorOf(n: number): RGB {
  return [(n * 53 + 17) % 256, (n * 97 + 101) % 256, (n * 29 + 211) % 256];
}

test('kill -9 during a stream of enrolments loses no acknowledged face and leaves nothing half-written', async () => {
  const expected = new Map<string, number[]>(); // image sha256 -> its embedding
  const acked = new Map<string, string>(); // face id -> identity
  let next = 0;

  let server = await startServer();
  try {
    const created = await json(`${server.url}/v1/galleries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'kill', model: 'color-embedder' }) });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    for (const id of IDENTITIES) {
      const r = await json(`${server.url}/v1/galleries/kill/identities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
      assert.equal(r.status, 201);
    }

    for (let round = 0; round < ROUNDS; round++) {
      // Kill after a random number of acknowledgements, with CONCURRENCY requests in flight.
      const killAfter = 10 + Math.floor(Math.random() * 30);
      let ackedThisRound = 0;
      let killing: Promise<void> | undefined;
      const current = server;
      const worker = async () => {
        while (!killing) {
          const n = next++;
          const rgb = colorOf(n);
          const png = await solidPng(16, 16, rgb);
          expected.set(createHash('sha256').update(png).digest('hex'), colorEmbedding(rgb));
          const identity = IDENTITIES[n % IDENTITIES.length];
          const form = new FormData();
          form.append('image', new Blob([png], { type: 'image/png' }), `${n}.png`);
          try {
            const res = await fetch(`${current.url}/v1/galleries/kill/identities/${identity}/faces`, { method: 'POST', body: form });
            if (res.status !== 201) throw new Error(`enrolment answered ${res.status}: ${await res.text()}`);
            const body = (await res.json()) as { faces: Array<{ id: string }> };
            for (const f of body.faces) acked.set(f.id, identity);
            if (++ackedThisRound === killAfter) killing = kill(current);
          } catch (err) {
            if (killing || current.child.exitCode !== null) return; // cut by the kill: not acknowledged
            throw err;
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await killing;

      server = await startServer();
      // Every acknowledged face is there, and every face there is whole.
      const present = new Map<string, string>();
      const sums = new Map<string, number[]>();
      for (const identity of IDENTITIES) {
        const { status, body } = await json(`${server.url}/v1/galleries/kill/identities/${identity}/faces?embeddings=true`);
        assert.equal(status, 200, JSON.stringify(body));
        const sum = [0, 0, 0];
        for (const f of body.faces as Array<{ id: string; embedding: number[]; source: { sha256: string } }>) {
          present.set(f.id, identity);
          const want = expected.get(f.source.sha256);
          assert.ok(want, `face ${f.id} of ${identity} comes from an image that was never sent`);
          f.embedding.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `face ${f.id}: embedding ${f.embedding} is not ${want}`));
          f.embedding.forEach((v, i) => (sum[i] += v));
        }
        sums.set(identity, sum);
      }
      for (const [face, identity] of acked) assert.equal(present.get(face), identity, `acknowledged face ${face} of ${identity} is missing after kill ${round + 1}`);
      // The index holds the prototypes of exactly these faces.
      const probe: RGB = [200, 60, 90];
      const form = new FormData();
      form.append('image', new Blob([await solidPng(16, 16, probe)], { type: 'image/png' }), 'probe.png');
      const found = await json(`${server.url}/v1/galleries/kill/identify?k=${IDENTITIES.length}`, { method: 'POST', body: form });
      assert.equal(found.status, 200, JSON.stringify(found.body));
      const q = colorEmbedding(probe);
      for (const c of found.body.faces[0].candidates as Array<{ identity: string; similarity: number }>) {
        const sum = sums.get(c.identity) as number[];
        const norm = Math.hypot(...sum);
        const want = sum.reduce((s, v, i) => s + (v / norm) * q[i], 0);
        assert.ok(Math.abs(c.similarity - want) < 1e-5, `${c.identity}: similarity ${c.similarity}, prototype of its faces gives ${want}`);
      }
      assert.equal(found.body.faces[0].candidates.length, [...sums.values()].filter((s) => s.some((v) => v !== 0)).length);
    }
    assert.ok(acked.size >= ROUNDS * 10, `only ${acked.size} faces acknowledged`);
  } finally {
    await kill(server);
  }
});
