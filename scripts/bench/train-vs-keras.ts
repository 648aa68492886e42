// Side by side: protoserve's training step on each backend that loads, against Keras on
// TensorFlow (the reference, in graph mode), on the same nets, batch, optimizer and threads, in
// one run. Ratios, not absolute numbers: the machine is shared and noisy, so every runner is a
// long-lived process and the measurement rounds interleave them (each round runs every runner
// for about --seconds), and each ratio is the median over rounds of protoserve / Keras in the
// same round. Images per CPU-second (the process's CPU time, all threads) are printed beside
// images per second: on a busy machine they vary far less, and at 1 thread on an idle core they
// are the same number.
//
//   npx tsx scripts/bench/train-vs-keras.ts [--nets resnet8,mobilefacenet,iresnet18] [--threads 1]
//       [--backends tfjs-node-gpu,tfjs-node,wasm] [--rounds 3] [--seconds 6] [--keras-eager]
//       [--batch resnet8=64,mobilefacenet=16,iresnet18=8] [--python .cache/tf-venv/bin/python]
//
// - protoserve: the loop's TrainStep (scripts/bench/synthetic-step.ts), SGD with momentum 0.9,
//   softmax cross-entropy on a linear head, losses read once per round as the loop reads them
//   (batched, not per step). tfjs-node runs with TF_NUM_INTRAOP_THREADS=--threads and one inter-op
//   thread; wasm is single-threaded whatever --threads says (see src/train/backends/wasm-backend.ts).
// - Keras (scripts/bench/train-vs-keras.py): the same layer graph built with keras.layers, a
//   tf.function train step (graph mode, no XLA) with intra-op threads = --threads, inter-op 1;
//   --keras-eager adds the same step run eagerly.
// - Parameter counts are compared first, layer by layer; a net whose counts differ is not timed.
// Needs tensorflow-cpu for Python: python3 -m venv .cache/tf-venv &&
//   .cache/tf-venv/bin/pip install tensorflow-cpu==2.21.0
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TRAINING_BACKEND_NAMES, isTrainingBackendName, resolveTrainingBackend } from '../../src/train/backends/index.js';
import { backboneGraph, backboneTakes } from '../../src/train/nets/registry.js';
import { PendingLosses } from '../../src/train/pending-losses.js';
import { BENCH_NETS, knownNet, syntheticStep } from './synthetic-step.js';

const CLASSES = 10;
const LEARNING_RATE = 0.01;
const DEFAULT_BATCH: Record<string, number> = { resnet8: 64, resnet20: 64, mobilefacenet: 16, iresnet18: 8, iresnet50: 4 };
const SELF = fileURLToPath(import.meta.url);

const { values } = parseArgs({
  options: {
    nets: { type: 'string', default: 'resnet8,mobilefacenet,iresnet18' },
    threads: { type: 'string', default: '1' },
    backends: { type: 'string', default: 'tfjs-node-gpu,tfjs-node,wasm' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '' },
    python: { type: 'string' },
    'keras-eager': { type: 'boolean', default: false },
    // Internal: this file as one protoserve runner.
    child: { type: 'string' },
    net: { type: 'string' },
  },
});

/** One runner's answers, line by line (JSON). */
class Runner {
  private readonly lines: AsyncIterator<string>;
  constructor(readonly label: string, private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    child.on('exit', (code) => {
      if (code) process.stderr.write(`${label} exited with ${code}:\n${err}\n`);
    });
  }

  async next<T>(): Promise<T> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`${this.label} ended without answering`);
    return JSON.parse(value) as T;
  }

  async run(steps: number): Promise<{ seconds: number; cpuSeconds: number; loss: number }> {
    this.child.stdin.write(`run ${steps}\n`);
    return this.next();
  }

  close(): void {
    this.child.stdin.end();
  }
}

interface Ready {
  ready: true;
  parameters: number;
  perNode: Record<string, number>;
  version: string;
  error?: string;
}

async function childMain(backendName: string, net: string, batch: number): Promise<void> {
  const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  let backend;
  try {
    backend = await resolveTrainingBackend({ backend: backendName, log: () => {} });
  } catch (error) {
    out({ ready: false, error: (error as Error).message.split('. ')[0].replace(/^Training backend "[^"]+" cannot run here: /, '') });
    return;
  }
  const s = syntheticStep({ net, batch, classes: CLASSES, optimizer: 'sgd', learningRate: LEARNING_RATE });
  const perNode: Record<string, number> = {};
  for (const spec of s.backbone.paramSpecs().filter((p) => p.trainable)) {
    const node = spec.name.slice(0, spec.name.lastIndexOf('.')).replace(/\./g, '_');
    perNode[node] = (perNode[node] ?? 0) + spec.shape.reduce((a, b) => a * b, 1);
  }
  perNode.classifier = (s.backbone.outputDim + 1) * CLASSES;
  out({ ready: true, parameters: s.trainableParameters, perNode, version: backend.description });
  const losses = new PendingLosses();
  for await (const line of createInterface({ input: process.stdin })) {
    const steps = Number(line.split(' ')[1]);
    const start = performance.now();
    const cpu = process.cpuUsage();
    let loss = NaN;
    for (let i = 0; i < steps; i++) losses.push(s.step.run(s.prepared, s.position));
    losses.read((l) => (loss = l)); // waits for the last step
    const used = process.cpuUsage(cpu);
    out({ seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6, loss });
  }
  s.dispose();
}

function start(label: string, command: string, args: string[], env: NodeJS.ProcessEnv, config?: object): Runner {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const runner = new Runner(label, child);
  if (config) child.stdin.write(`${JSON.stringify(config)}\n`);
  return runner;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function perNetOption(text: string, parse: (v: string) => number): Record<string, number> {
  return Object.fromEntries(text.split(',').filter(Boolean).map((kv) => {
    const [k, v] = kv.split('=');
    return [k, parse(v)];
  }));
}

async function main(): Promise<number> {
  const threads = Number(values.threads);
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const nets = values.nets.split(',').filter(Boolean);
  nets.forEach(knownNet);
  const backends = values.backends.split(',').filter(Boolean);
  for (const b of backends) {
    if (!isTrainingBackendName(b)) throw new Error(`Unsupported backend: "${b}". Should be one of: ${TRAINING_BACKEND_NAMES.join(', ')}`);
  }
  const batches = { ...DEFAULT_BATCH, ...perNetOption(values.batch, Number) };
  const python = values.python ?? (existsSync('.cache/tf-venv/bin/python') ? '.cache/tf-venv/bin/python' : 'python3');
  const kerasModes = values['keras-eager'] ? ['graph', 'eager'] : ['graph'];
  const rows: string[] = [];
  let failed = false;
  for (const net of nets) {
    const batch = batches[net];
    const { inputShape, width } = BENCH_NETS[net];
    const graph = backboneGraph(net, { inputShape, width: backboneTakes(net, 'width') ? width : undefined });
    const runners: Array<{ runner: Runner; ready: Ready; keras: boolean }> = [];
    for (const mode of kerasModes) {
      const config = { graph, classes: CLASSES, batch, threads, learningRate: LEARNING_RATE, mode };
      runners.push({ runner: start(`Keras ${mode}`, python, [SELF.replace(/\.ts$/, '.py')], {}, config), ready: undefined!, keras: true });
    }
    for (const backend of backends) {
      const env = { TF_NUM_INTRAOP_THREADS: String(threads), TF_NUM_INTEROP_THREADS: '1', TF_CPP_MIN_LOG_LEVEL: '2' };
      const args = [...process.execArgv, SELF, '--child', backend, '--net', net, '--batch', String(batch)];
      runners.push({ runner: start(`protoserve ${backend}`, process.execPath, args, env), ready: undefined!, keras: false });
    }
    for (const r of runners) {
      try {
        r.ready = await r.runner.next<Ready>();
      } catch (error) {
        r.ready = { ready: true, parameters: NaN, perNode: {}, version: '', error: (error as Error).message };
      }
    }
    const reference = runners[0];
    if (reference.ready.error || !reference.ready.parameters) {
      throw new Error(`Keras did not start (${reference.ready.error ?? 'no answer'}); it needs tensorflow-cpu: ` +
        `python3 -m venv .cache/tf-venv && .cache/tf-venv/bin/pip install tensorflow-cpu==2.21.0`);
    }
    const live = runners.filter((r) => {
      if (r.ready.error) {
        rows.push(`| ${net} | ${batch} | | ${r.runner.label} | unavailable: ${r.ready.error} | | | |`);
        r.runner.close();
        return false;
      }
      return true;
    });
    // Parameter counts first, layer by layer: the same net on both sides, or no timing.
    const mismatch = live.filter((r) => !r.keras).flatMap((r) =>
      [...new Set([...Object.keys(r.ready.perNode), ...Object.keys(reference.ready.perNode)])]
        .filter((node) => r.ready.perNode[node] !== reference.ready.perNode[node])
        .map((node) => `${node}: protoserve ${r.ready.perNode[node] ?? 0}, Keras ${reference.ready.perNode[node] ?? 0}`),
    );
    if (mismatch.length > 0) {
      console.error(`${net}: parameter counts differ, not timed:\n  ${[...new Set(mismatch)].join('\n  ')}`);
      failed = true;
      live.forEach((r) => r.runner.close());
      continue;
    }
    const stepSeconds = new Map<Runner, number>();
    for (const r of live) {
      const w = await r.runner.run(warmup);
      stepSeconds.set(r.runner, Math.max(w.seconds / warmup, 1e-3));
      process.stderr.write(`${net}: ${r.runner.label} (${r.ready.version}) warm, ${(1000 * w.seconds / warmup).toFixed(0)} ms/step\n`);
    }
    // Per round and runner: images per second of wall time, and per second of the process's CPU time.
    const rates = new Map<Runner, { wall: number[]; cpu: number[] }>(live.map((r) => [r.runner, { wall: [], cpu: [] }]));
    for (let round = 0; round < rounds; round++) {
      for (const r of live) {
        const steps = Math.max(2, Math.round(seconds / stepSeconds.get(r.runner)!));
        const t = await r.runner.run(steps);
        stepSeconds.set(r.runner, t.seconds / steps);
        rates.get(r.runner)!.wall.push((steps * batch) / t.seconds);
        rates.get(r.runner)!.cpu.push((steps * batch) / t.cpuSeconds);
      }
      process.stderr.write(`${net}: round ${round + 1}/${rounds}: ${live.map((r) => `${r.runner.label} ${rates.get(r.runner)!.wall.at(-1)!.toFixed(1)}`).join(', ')} images/s\n`);
    }
    const base = rates.get(reference.runner)!;
    const summarize = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
    for (const r of live) {
      const { wall, cpu } = rates.get(r.runner)!;
      const ratio = (xs: number[], ref: number[]) => (r === reference ? '1' : summarize(xs.map((v, i) => v / ref[i]), 3));
      rows.push(
        `| ${net} | ${batch} | ${r.ready.parameters.toLocaleString('en-US')} | ${r.runner.label}: ${r.ready.version} | ` +
          `${summarize(wall, 1)} | ${ratio(wall, base.wall)} | ${summarize(cpu, 1)} | ${ratio(cpu, base.cpu)} |`,
      );
      r.runner.close();
    }
  }
  console.log(
    `\ntrain-vs-keras: ${threads} thread${threads === 1 ? '' : 's'} (intra-op; inter-op 1), SGD momentum 0.9, softmax cross-entropy, ` +
      `${rounds} rounds of ~${seconds} s per runner; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); ${new Date().toISOString()}`,
  );
  console.log(
    '| net | batch | trainable parameters | runner | images/s: median (range) | vs Keras graph | ' +
      'images per CPU-second | vs Keras graph, CPU time |',
  );
  console.log('|---|---:|---:|---|---:|---:|---:|---:|');
  for (const row of rows) console.log(row);
  return failed ? 1 : 0;
}

if (values.child) {
  await childMain(values.child, values.net!, Number(values.batch));
} else {
  process.exitCode = await main();
}
