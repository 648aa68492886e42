// The long bounded load test (the short one runs in npm test): a real `protoserve serve` on a
// models folder, 64 concurrent clients on loopback, a fixed number of requests per run (and a
// time cap), repeated; prints the answers by status, the throughput and p99, and the server's
// resident memory after each run, then the growth from the second run to the last.
//
//   npm run build && npx tsx scripts/bench/load.ts [--models models] [--model mnist-resnet8]
//     [--runs 6] [--requests 20000] [--connections 64] [--max-seconds 120] [--config FILE]
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { loadDataset } from '../../src/train/data/datasets.js';
import { testImagePng } from '../mnist-samples.js';
import { loadRun } from './load-run.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'models' },
    model: { type: 'string', default: 'mnist-resnet8' },
    route: { type: 'string', default: 'classify' },
    image: { type: 'string' },
    runs: { type: 'string', default: '6' },
    requests: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '64' },
    'max-seconds': { type: 'string', default: '120' },
    config: { type: 'string' },
  },
});

const image = values.image ? await readFile(values.image) : Buffer.from((await testImagePng(loadDataset('mnist'), 0)).png);
const args = ['dist/cli.js', 'serve', '--models', values.models, '--port', '0', '--host', '127.0.0.1', '--quiet', '--log-format', 'text', ...(values.config ? ['--config', values.config] : [])];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let address = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      address ||= /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1] ?? '';
      if (address && /^ready: /m.test(out)) resolve(address);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
  const rssMiB = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  const rss: number[] = [];
  let failed = false;
  for (let run = 1; run <= Number(values.runs); run++) {
    const r = await loadRun({
      url: `${url}/v1/models/${values.model}/${values.route}`,
      image,
      contentType: 'image/png',
      connections: Number(values.connections),
      amount: Number(values.requests),
      maxSeconds: Number(values['max-seconds']),
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    rss.push(await rssMiB());
    const bad = r.errors + r.timeouts + r.unexpected + r.bad503;
    failed ||= bad > 0;
    console.log(`run ${run}: ${r.requests} requests, statuses ${JSON.stringify(r.statuses)}, ${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.latencyP99Ms} ms, errors ${bad}, server RSS ${rss.at(-1)!.toFixed(1)} MiB`);
  }
  const growth = rss.at(-1)! - rss[1];
  console.log(`RSS growth from run 2 to run ${rss.length}: ${growth.toFixed(1)} MiB (${((growth / rss[1]) * 100).toFixed(1)}%); ${failed ? 'FAILED: errors other than deliberate 503s' : 'no errors other than deliberate 503s'}`);
  process.exitCode = failed ? 1 : 0;
} finally {
  child.kill('SIGTERM');
}
