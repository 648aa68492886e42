// The serve bench's liveness probe, in a process of its own (as a monitoring client on another
// machine would be): GET <url> at a fixed rate on one keep-alive connection, each request due
// at t0 + i / rate and its latency counted from when it was due, so a stalled server shows in
// full (no coordinated omission) and the probe never adds load when the server is slow.
// autocannon is not used for this: its rate limit sends a second's requests back to back at the
// start of each second, and its correction for coordinated omission assumes a 1 ms interval.
//
// Run by scripts/bench/serve.ts through IPC: it sends {type: 'ready'} once connected, probes
// until it receives 'stop', then sends {type: 'result', n, p50, p90, p99, max} (ms) and exits.
//   node --import tsx scripts/bench/live-probe.ts <url> [per-second]
import http from 'node:http';

const [url, perSecond = '50'] = process.argv.slice(2);
if (!url || !process.send) throw new Error('usage: spawned by serve.ts with an IPC channel: live-probe.ts <url> [per-second]');
const interval = 1000 / Number(perSecond);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url} answered ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

let stopped = false;
process.on('message', (m) => {
  if (m === 'stop') stopped = true;
});

await get(); // connect before the clock starts
process.send({ type: 'ready' });
const latencies: number[] = [];
const t0 = performance.now();
for (let i = 0; !stopped; i++) {
  const due = t0 + i * interval;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  if (stopped) break;
  await get();
  latencies.push(performance.now() - due);
}
latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
process.send({ type: 'result', n: latencies.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: latencies.at(-1) ?? NaN }, () => process.exit(0));
