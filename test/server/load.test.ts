// A short bounded load test (the long one: scripts/bench/load.ts): 64 concurrent clients on
// loopback against a real server on tiny models, a fixed number of requests per run. Every
// answer is a 200 or a deliberate 503 OVERLOADED with Retry-After, nothing is left queued, and
// the server's retained memory does not grow across repeated runs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { defaultConfig } from '../../src/config/server-config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadRun, retainedBytes } from '../../scripts/bench/load-run.js';
import { meanIntensityClassifier, solidPng, tempDir, writeModels } from '../infer/tiny-models.js';

const RUNS = 6;
const REQUESTS = 1500;

describe('load (64 concurrent clients)', () => {
  let running: RunningServer;
  let cleanup: () => Promise<void>;
  before(async () => {
    const tmp = await tempDir();
    cleanup = tmp.cleanup;
    await writeModels(tmp.dir, [meanIntensityClassifier()]);
    const c = defaultConfig();
    // A queue shorter than the clients, so some 503s are deliberate and must carry Retry-After.
    const config = { ...c, scheduler: { ...c.scheduler, maxQueue: 32 }, server: { ...c.server, quiet: true } };
    running = await startServer({ config, modelsDir: tmp.dir, port: 0, host: '127.0.0.1', device: 'cpu', log: () => {}, logError: () => {} });
    await running.ready;
  });
  after(async () => {
    await running.close();
    await cleanup();
  });

  test('zero errors other than deliberate 503s, nothing left queued, no memory growth across runs', async () => {
    const image = await solidPng(28, 28, 200);
    const retained: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const r = await loadRun({ url: `${running.url}/v1/models/mean-probs/classify`, image, contentType: 'image/png', connections: 64, amount: REQUESTS, maxSeconds: 60 });
      assert.equal(r.errors, 0, JSON.stringify(r));
      assert.equal(r.timeouts, 0, JSON.stringify(r));
      assert.equal(r.unexpected, 0, JSON.stringify(r));
      assert.equal(r.bad503, 0, JSON.stringify(r));
      assert.equal(r.requests, REQUESTS);
      assert.ok((r.statuses[200] ?? 0) > REQUESTS / 2, JSON.stringify(r.statuses));
      const stats = running.pool.get('mean-probs')!.session.stats()!;
      assert.deepEqual({ queued: stats.queued, running: stats.running }, { queued: 0, running: 0 });
      retained.push(retainedBytes());
    }
    // The first run warms caches (JIT, sockets, pools); later runs must not keep adding. The heap
    // after a run varies by about +-2 MB here (the load generator runs in this process too), so
    // the lower of the last two runs is compared with run 2: a leak of 1 KB per request would
    // have added 6 MB by then, noise stays under 2 MB.
    const growth = Math.min(retained[RUNS - 1], retained[RUNS - 2]) - retained[1];
    assert.ok(growth < 2 * 1024 * 1024, `retained bytes after each run: ${retained.join(', ')} (growth ${growth})`);
  });
});
