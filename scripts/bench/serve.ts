// Serving speed, measured in one run and printed as ratios (machines here are noisy: only
// ratios of measurements taken side by side mean anything; each figure is repeated and shown as
// a range):
//   1. bare onnxruntime on an IResNet-50 export (batch 1 and 16; one session with onnxruntime's
//      default threads or 1..cores intra-op threads, or one single-threaded session per core)
//      against protoserve over HTTP (/embed, multipart JPEG, `--clients` concurrent clients) in
//      that best configuration (onnxruntime's default threads become the server's auto): goal >= 0.9x;
//      and protoserve with no configuration at all (its auto sessions and threads);
//   2. protoserve against the naive Python reference service (reference_service.py: FastAPI +
//      onnxruntime + Pillow, uvicorn, one worker, `def` handlers): goal >= 1.2x;
//   3. micro-batching on (batching on, max_batch 16) against off at the same clients, on
//      IResNet-50 and on the small default classifier: goal >= 1.5x;
//   4. the small default classifier's fixed per-request cost, split by the Server-Timing header
//      into parse, decode, queue, inference and serialization;
//   5. /v2/health/live p99 while the server is saturated (probed 50 times a second, evenly, from
//      a process of its own: live-probe.ts): goal < 10 ms; and the same figures with
//      the inline executor (sessions on the main thread), which is how the default was chosen.
//
//   npm run build && npx tsx scripts/bench/serve.ts [--seconds 6] [--requests 64] [--repeats 3] [--clients 16]
//     [--iresnet /tmp/protoserve-bench] [--python .cache/bench-venv/bin/python] [--skip-python]
//
// The Python service needs fastapi, uvicorn, pillow, python-multipart, numpy and onnxruntime:
//   python3 -m venv .cache/bench-venv && .cache/bench-venv/bin/pip install fastapi uvicorn pillow python-multipart numpy onnxruntime
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import autocannon from 'autocannon';
import ort from 'onnxruntime-node';
import sharp from 'sharp';

import { readArtifact } from '../../src/artifact/read-artifact.js';
import { inputDims, preprocessImage } from '../../src/infer/preprocess.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import { startWorker } from '../../src/worker-thread.js';
import { testImagePng } from '../mnist-samples.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '6' },
    requests: { type: 'string', default: '64' },
    repeats: { type: 'string', default: '3' },
    clients: { type: 'string', default: '16' },
    iresnet: { type: 'string', default: join(tmpdir(), 'protoserve-bench') },
    python: { type: 'string', default: '.cache/bench-venv/bin/python' },
    'skip-python': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
/** IResNet-50 requests per HTTP measurement (the small classifier gets 20 times as many). */
const REQUESTS = Number(values.requests);
const REPEATS = Number(values.repeats);
const CLIENTS = Number(values.clients);
const CORES = availableParallelism();
const IRESNET = 'iresnet50-untrained';
const CLI = 'dist/cli.js';
/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = 100;
/** /v2/health/live requests per second while the server is saturated. */
const LIVE_PROBES_PER_S = 50;
if (!existsSync(CLI)) throw new Error('run `npm run build` first: the servers run from dist/');

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`serve bench: ${CORES} cores, ${SECONDS} s per bare measurement, ${REQUESTS} requests per HTTP one, ${REPEATS} repeats, ${CLIENTS} clients; load average at start ${load()}`);

// --- the IResNet-50 artifact -------------------------------------------------------------
const iresnetDir = join(values.iresnet, IRESNET);
if (!existsSync(join(iresnetDir, 'manifest.json'))) {
  console.log(`exporting an untrained IResNet-50 to ${iresnetDir} ...`);
  await run(process.execPath, [CLI, 'export', '--backbone', 'iresnet50', '--name', IRESNET, '--models', values.iresnet]);
}
const iresnet = await readArtifact(iresnetDir, { verifyHash: false });

// A 250x250 JPEG (LFW-sized) of smooth noise: every server decodes and resizes it to 112x112.
const face = await sharp(Buffer.from(Array.from({ length: 250 * 250 * 3 }, (_, i) => (i * 7919) % 251)), { raw: { width: 250, height: 250, channels: 3 } })
  .blur(2)
  .jpeg({ quality: 90 })
  .toBuffer();
// A real MNIST test digit for the small default classifier.
const digit = Buffer.from((await testImagePng(loadDataset('mnist'), 0)).png);
// Bare onnxruntime runs the very tensor the server makes of the image (its preprocessing):
// inference time depends on the data (on this untrained IResNet-50, a constant 0.1 input ran 7%
// faster than this image's tensor: 72 against 78 ms a run on one thread), so a made-up input
// would flatter the baseline.
const faceItem = await preprocessImage(face, iresnet.manifest.input);

// --- measurements ---------------------------------------------------------------------------
interface RawConfig {
  sessions: number;
  threads: number;
}
/** threads 0: onnxruntime's own default. */
const RAW_CONFIGS: RawConfig[] = [
  { sessions: 1, threads: 0 },
  ...Array.from({ length: CORES }, (_, i) => ({ sessions: 1, threads: i + 1 })),
  ...(CORES > 1 ? [{ sessions: CORES, threads: 1 }] : []),
];

/** Images/s of bare sessions running in worker threads, all started at once, and the CPU ms each image took. */
async function rawOrt(config: RawConfig, batch: number): Promise<{ ips: number; cpuMsPerImage: number }> {
  const { input } = iresnet.manifest;
  const workers = Array.from({ length: config.sessions }, () =>
    startWorker(import.meta.url, './raw-ort-worker', {
      workerData: { modelPath: iresnet.modelPath, threads: config.threads, batch, seconds: SECONDS, inputName: input.tensor, dims: inputDims(input, 1).slice(1), item: faceItem },
    }),
  );
  const next = (w: (typeof workers)[number]) => new Promise<{ images: number; seconds: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await Promise.all(workers.map(next));
  const done = workers.map(next);
  const cpu0 = process.cpuUsage();
  for (const w of workers) w.postMessage('go');
  const results = await Promise.all(done);
  const cpu = process.cpuUsage(cpu0);
  await Promise.all(workers.map((w) => w.terminate()));
  const images = results.reduce((a, r) => a + r.images, 0);
  return { ips: images / Math.max(...results.map((r) => r.seconds)), cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images };
}

function multipart(bytes: Buffer, field: string, filename: string, type: string): { body: Buffer; contentType: string } {
  const boundary = '----protoservebench';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`);
  return { body: Buffer.concat([head, bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** What autocannon returns without a callback: the run's result, and its events. */
type Tracker = Promise<autocannon.Result> & NodeJS.EventEmitter;

interface HttpFigures {
  rps: number;
  non2xx: number;
  errors: number;
  /** NaN when no /v2/health/live request finished while the server was saturated. */
  liveP99: number;
  liveP50: number;
  liveRequests: number;
  /** Cores busy during the measurement: the server process, and this process (the clients). */
  cores: { server: number; client: number };
  /** CPU ms the server process spent per request (all its threads). */
  serverCpuMsPerRequest: number;
}

/** CPU seconds a process has used so far (all its threads; Linux's /proc). */
function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name: utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

/**
 * `clients` connections posting the image `requests` times (a fixed amount, so a slow server is
 * measured over as many requests as a fast one), while the probe (live-probe.ts, its own
 * process) polls /v2/health/live until the load ends.
 */
async function http(base: string, pid: number, path: string, image: Buffer, type: string, clients: number, requests: number): Promise<HttpFigures> {
  const { body, contentType } = multipart(image, 'image', 'x', type);
  const load = (amount: number) =>
    autocannon({ url: `${base}${path}`, method: 'POST', connections: clients, amount, duration: 900, headers: { 'content-type': contentType }, body, timeout: 300 }) as Tracker;
  await load(clients); // warm-up: first batches, JIT, connection set-up
  // The probe runs at a fixed rate (latency counted from when each request was due, so a stalled
  // event loop still shows): flat out, it would take CPU from the very server it measures, and
  // the more so the faster that server answers. In a process of its own, its timing does not
  // wait behind this process's load clients.
  const live = await startProbe(`${base}/v2/health/live`);
  const server0 = processCpu(pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  const measured = load(requests);
  // autocannon notices the last response only at its next one-second sample, so the time is the
  // last response's own: a run of about 3 s would otherwise read as 3 or 4 s.
  let last = t0;
  measured.on('response', () => (last = performance.now()));
  const r = await measured;
  const seconds = (last - t0) / 1000;
  const client = process.cpuUsage(client0);
  const serverCpu = processCpu(pid) - server0;
  const cores = { server: serverCpu / seconds, client: (client.user + client.system) / 1e6 / seconds };
  const l = await live.stop();
  return { rps: r.requests.total / seconds, non2xx: r.non2xx, errors: r.errors, liveP99: l.p99, liveP50: l.p50, liveRequests: l.n, cores, serverCpuMsPerRequest: (serverCpu * 1000) / r.requests.total };
}

interface ProbeResult {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Starts live-probe.ts on `url` (resolves once it is connected); stop() ends it with its figures. */
async function startProbe(url: string): Promise<{ stop: () => Promise<ProbeResult> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/live-probe.ts', url, String(LIVE_PROBES_PER_S)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: { type: string }) => m.type === type && (child.off('exit', onExit), child.off('message', onMessage), resolve(m as T));
      const onExit = (code: number | null) => reject(new Error(`live-probe.ts exited (${code}) before sending '${type}'`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  await next('ready');
  return {
    stop: () => {
      const result = next<ProbeResult>('result');
      child.send('stop');
      return result;
    },
  };
}

/** Starts `protoserve serve` as its own process on a config; resolves with its URL once ready. */
async function protoserve(modelsDir: string, config: unknown): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'serve-bench-'));
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify(config));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--models', modelsDir, '--port', '0', '--host', '127.0.0.1', '--device', 'cpu', '--quiet', '--log-format', 'text'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let address = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      address ||= /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1] ?? '';
      if (address && /^ready: /m.test(out)) resolve(address);
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`protoserve exited (${code}) before it was ready:\n${out}`)));
  });
  return { url, pid: child.pid!, stop: () => stop(child) };
}

async function reference(python: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const child = spawn(python, ['-m', 'uvicorn', 'reference_service:app', '--app-dir', 'scripts/bench', '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--log-level', 'warning'], {
    env: { ...process.env, MODEL: iresnet.modelPath },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the reference service exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/v2/health/live`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error('the reference service did not start within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid!, stop: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

/** Median of each Server-Timing stage over sequential classify requests, and of the client's round trip. */
async function overhead(requests: number): Promise<Record<string, number>> {
  const server = await protoserve('models', {});
  const { body, contentType } = multipart(digit, 'image', 'digit.png', 'image/png');
  const stages: Record<string, number[]> = { parse: [], decode: [], queue: [], inference: [], serialize: [], 'client round trip': [] };
  try {
    for (let i = 0; i < requests + 20; i++) {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/v1/models/mnist-resnet8/classify`, { method: 'POST', body, headers: { 'content-type': contentType } });
      await res.arrayBuffer();
      const total = performance.now() - t0;
      if (i < 20) continue;
      for (const m of (res.headers.get('server-timing') ?? '').matchAll(/(\w+);dur=([\d.]+)/g)) stages[m[1]]?.push(Number(m[2]));
      stages['client round trip'].push(total);
    }
  } finally {
    await server.stop();
  }
  // The bare session.run of the same model on the same input, for scale.
  const artifact = await readArtifact('models/mnist-resnet8', { verifyHash: false });
  const session = await ort.InferenceSession.create(artifact.modelPath, { executionProviders: ['cpu'] });
  const { input } = artifact.manifest;
  const tensor = new ort.Tensor('float32', await preprocessImage(digit, input), inputDims(input, 1));
  stages['bare session.run'] = [];
  for (let i = 0; i < requests + 20; i++) {
    const t0 = performance.now();
    await session.run({ [input.tensor]: tensor });
    if (i >= 20) stages['bare session.run'].push(performance.now() - t0);
  }
  await session.release();
  return Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, median(v)]));
}

/** Where the cores went during a measurement. */
function busy(f: HttpFigures): string {
  return `cores busy: server ${f.cores.server.toFixed(2)}, clients ${f.cores.client.toFixed(2)}; server CPU ${f.serverCpuMsPerRequest.toFixed(1)} ms per request`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

// --- the run ---------------------------------------------------------------------------------
const figures: Record<string, number[]> = {};
const note = (name: string, value: number) => (figures[name] ??= []).push(value);
const havePython = !values['skip-python'] && existsSync(values.python);
if (!values['skip-python'] && !havePython) console.log(`(no ${values.python}: the Python reference is skipped; see the header for how to install it)`);

for (let rep = 1; rep <= REPEATS; rep++) {
  console.log(`\n--- repeat ${rep}/${REPEATS} (load average ${load()})`);
  let best = { ips: 0, cpuMsPerImage: NaN, config: RAW_CONFIGS[0], batch: 1 };
  for (const batch of [1, 16]) {
    for (const config of RAW_CONFIGS) {
      const { ips, cpuMsPerImage } = await rawOrt(config, batch);
      note(`raw b${batch} ${config.sessions}x${config.threads}t`, ips);
      console.log(`bare onnxruntime, batch ${batch}, ${config.sessions} session(s) x ${config.threads || "onnxruntime's default"} thread(s): ${ips.toFixed(1)} images/s, CPU ${cpuMsPerImage.toFixed(1)} ms per image`);
      if (ips > best.ips) best = { ips, cpuMsPerImage, config, batch };
    }
  }
  note('raw best', best.ips);
  note('raw best cpu', best.cpuMsPerImage);
  console.log(`best bare configuration: batch ${best.batch}, ${best.config.sessions} session(s) x ${best.config.threads} thread(s)`);

  const tuned = { models: { [IRESNET]: { workers: best.config.sessions, intra_op_threads: best.config.threads } } };
  const variants: Array<[string, unknown]> = [
    // The best bare configuration, batching included: on where bare batch 16 was the faster.
    ['protoserve', { scheduler: { batching: best.batch > 1 ? 'on' : 'off', max_batch: 16 }, ...tuned }],
    ['protoserve defaults', {}],
    ['protoserve batching on', { scheduler: { batching: 'on', max_batch: 16 }, ...tuned }],
    ['protoserve batching off', { scheduler: { batching: 'off' }, ...tuned }],
    ['protoserve inline executor', { scheduler: { batching: 'on', max_batch: 16, executor: 'inline', intra_op_threads: best.config.threads * best.config.sessions } }],
  ];
  for (const [name, config] of variants) {
    const server = await protoserve(values.iresnet, config);
    try {
      const f = await http(server.url, server.pid, `/v1/models/${IRESNET}/embed`, face, 'image/jpeg', CLIENTS, REQUESTS);
      note(`${name} rps`, f.rps);
      note(`${name} live p99`, f.liveP99);
      note(`${name} cpu`, f.serverCpuMsPerRequest);
      console.log(`${name}: ${f.rps.toFixed(1)} requests/s (${f.non2xx} non-2xx, ${f.errors} errors); /v2/health/live p50 ${f.liveP50.toFixed(1)} ms, p99 ${f.liveP99.toFixed(1)} ms over ${f.liveRequests} requests; ${busy(f)}`);
    } finally {
      await server.stop();
    }
  }
  if (havePython) {
    const server = await reference(values.python);
    try {
      const f = await http(server.url, server.pid, '/embed', face, 'image/jpeg', CLIENTS, REQUESTS);
      note('python rps', f.rps);
      note('python live p99', f.liveP99);
      note('python cpu', f.serverCpuMsPerRequest);
      console.log(`python reference (FastAPI + onnxruntime + Pillow): ${f.rps.toFixed(1)} requests/s (${f.non2xx} non-2xx, ${f.errors} errors); /v2/health/live p50 ${f.liveP50.toFixed(1)} ms, p99 ${f.liveP99.toFixed(1)} ms over ${f.liveRequests} requests; ${busy(f)}`);
    } finally {
      await server.stop();
    }
  }
  for (const [name, batching] of [['mnist batching on', 'on'], ['mnist batching off', 'off']] as const) {
    const server = await protoserve('models', { scheduler: { batching, max_batch: 16 } });
    try {
      const f = await http(server.url, server.pid, '/v1/models/mnist-resnet8/classify', digit, 'image/png', CLIENTS, 20 * REQUESTS);
      note(`${name} rps`, f.rps);
      console.log(`${name} (mnist-resnet8, ${CLIENTS} clients): ${f.rps.toFixed(1)} requests/s (${f.non2xx} non-2xx); ${busy(f)}`);
    } finally {
      await server.stop();
    }
  }
  const split = await overhead(200);
  for (const [k, v] of Object.entries(split)) note(`overhead ${k}`, v);
  console.log(`mnist-resnet8 per request (median ms): ${Object.entries(split).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
}

// --- the summary ---------------------------------------------------------------------------
const ratio = (a: string, b: string) => figures[a]?.map((x, i) => x / figures[b][i]) ?? [];
// NaN (no live request finished while saturated) shows as 'none answered'.
const range = (xs: number[], digits = 2) => (!xs.length ? 'n/a' : xs.some(Number.isNaN) ? `${xs.map((x) => (Number.isNaN(x) ? 'none answered' : x.toFixed(digits))).join(', ')}` : `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`);
console.log(`\n=== summary over ${REPEATS} repeats (ranges min-max), load average at the end ${load()}`);
console.log(`1. protoserve / best bare onnxruntime (IResNet-50, ${CLIENTS} clients):       ${range(ratio('protoserve rps', 'raw best'))}x  (goal >= 0.9)`);
console.log(`   protoserve ${range(figures['protoserve rps'], 1)} req/s; bare best ${range(figures['raw best'], 1)} img/s`);
console.log(`   protoserve with its default configuration / best bare onnxruntime:     ${range(ratio('protoserve defaults rps', 'raw best'))}x`);
// What each image costs in CPU, all threads: the difference is what HTTP, decoding and routing
// add to inference (on a machine where inference keeps every core busy, throughput is cores over it).
console.log(`   CPU ms per image: bare best ${range(figures['raw best cpu'], 1)}; protoserve ${range(figures['protoserve cpu'], 1)}, with its defaults ${range(figures['protoserve defaults cpu'], 1)}${havePython ? `; Python ${range(figures['python cpu'], 1)}` : ''}`);
if (havePython) {
  console.log(`2. protoserve / Python reference (FastAPI+onnxruntime+Pillow):           ${range(ratio('protoserve rps', 'python rps'))}x  (goal >= 1.2); with protoserve's defaults ${range(ratio('protoserve defaults rps', 'python rps'))}x`);
  console.log(`   Python ${range(figures['python rps'], 1)} req/s, its /v2/health/live p99 ${range(figures['python live p99'], 0)} ms`);
}
console.log(`3. micro-batching on / off, ${CLIENTS} clients: IResNet-50 ${range(ratio('protoserve batching on rps', 'protoserve batching off rps'))}x, mnist-resnet8 ${range(ratio('mnist batching on rps', 'mnist batching off rps'))}x  (goal >= 1.5)`);
console.log(`   bare onnxruntime batch 16 / batch 1: 1 session x ${CORES} threads ${range(ratio(`raw b16 1x${CORES}t`, `raw b1 1x${CORES}t`))}x, ${CORES} sessions x 1 thread ${range(ratio(`raw b16 ${CORES}x1t`, `raw b1 ${CORES}x1t`))}x`);
console.log(`4. mnist-resnet8 fixed cost per request, median ms: ${['parse', 'decode', 'queue', 'inference', 'serialize', 'client round trip', 'bare session.run'].map((k) => `${k} ${range(figures[`overhead ${k}`] ?? [], 3)}`).join('; ')}`);
console.log(`5. /v2/health/live p99 while saturated, worker executor: best configuration ${range(figures['protoserve live p99'], 1)} ms (goal < 10), defaults ${range(figures['protoserve defaults live p99'], 1)} ms, batching on ${range(figures['protoserve batching on live p99'], 1)} ms, off ${range(figures['protoserve batching off live p99'], 1)} ms; inline executor ${range(figures['protoserve inline executor live p99'], 0)} ms`);
console.log(`   throughput worker / inline executor: ${range(ratio('protoserve rps', 'protoserve inline executor rps'))}x`);
