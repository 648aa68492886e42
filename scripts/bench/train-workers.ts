// Data-parallel speed-up: protoserve's training step with --workers N against the same step in
// one process, in one run, rounds interleaved (the machine is shared: the ratio, not the images/s,
// is the result), with the load average around it.
//
//   node --import tsx scripts/bench/train-workers.ts [--net resnet8] [--batch 64] [--workers 2]
//        [--backend wasm] [--steps 6] [--rounds 3]
//
// Both sides run the loop's own step classes (src/train/loop.ts: TrainStep, ReplicaTrainStep) on
// the same synthetic batch: resnet8 (28x28x1, width 16) with softmax cross-entropy and SGD. A
// third side is the ceiling: N worker threads each training on its shard alone, exchanging
// nothing (./independent-step-worker.ts), so what N concurrent backends at the shard's batch size
// get from this machine.
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { buildModels } from '../../src/train/build-net.js';
import { ReplicaTrainStep, TrainStep, type StepRunner } from '../../src/train/loop.js';
import type { PreparedStep } from '../../src/train/objectives/objective.js';
import { StageOptimizer } from '../../src/train/optimizer.js';
import { shardBounds } from '../../src/train/parallel/prepared-shard.js';
import { ReplicaPool } from '../../src/train/parallel/replica-pool.js';
import { DEFAULT_RUN_CONFIG, DEFAULT_STAGE, type RunConfig } from '../../src/train/run-config.js';
import { mulberry32 } from '../../src/seeded-random.js';
import { startWorker } from '../../src/worker-thread.js';
import { BENCH_NETS, knownNet } from './synthetic-step.js';

const { values: a } = parseArgs({
  options: {
    net: { type: 'string', default: 'resnet8' },
    batch: { type: 'string', default: '64' },
    workers: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'wasm' },
    steps: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
  },
});
knownNet(a.net!);
const batch = Number(a.batch);
const workers = Number(a.workers);
const steps = Number(a.steps);
const rounds = Number(a.rounds);
const backend = await resolveTrainingBackend({ backend: a.backend, log: () => {} });
const { inputShape, width } = BENCH_NETS[a.net!];
const config: RunConfig = { ...DEFAULT_RUN_CONFIG, net: a.net!, width, batchSize: batch, workers, stages: [{ ...DEFAULT_STAGE, optimizer: 'sgd', learningRate: 0.01 }] };
const shape = { inputShape, classCounts: new Array<number>(10).fill(1) };
const { backbone, objective } = buildModels(config, shape);
const spec = objective.stages[0];
const optimizer = () => new StageOptimizer(config.stages[0], { backbone: backbone.trainableVariables(), head: objective.trainableVariables(spec.name) });
const random = mulberry32(777);
const prepared: PreparedStep = {
  inputs: Float32Array.from({ length: batch * inputShape[0] * inputShape[1] * inputShape[2] }, () => random() * 2 - 1),
  views: 1,
  size: batch,
  labels: Int32Array.from({ length: batch }, () => Math.floor(random() * 10)),
  rows: {},
  shared: {},
};
const position = { stage: spec.name, epoch: 1 };
const { pool, description } = await ReplicaPool.start({ workers, config, shape, backend: backend.name, net: backbone, objective });
const replicas = await ReplicaTrainStep.start(pool, backbone, objective, spec.name);
replicas.setLearningRate(config.stages[0].learningRate);
const runSteps = (s: StepRunner) => async (n: number) => {
  for (let i = 0; i < n; i++) {
    const { values } = await s.run(prepared, position);
    values.dataSync();
    values.dispose();
  }
};
const alone = await Promise.all(
  shardBounds(batch, workers).map(async ([start, end]) => {
    const w = startWorker(import.meta.url, './independent-step-worker', { workerData: { net: a.net, batch: end - start, backend: backend.name } });
    await once(w, 'message');
    return w;
  }),
);
const runAlone = async (n: number) => {
  const done = alone.map((w) => once(w, 'message'));
  for (const w of alone) w.postMessage(n);
  await Promise.all(done);
};
const sides: Array<{ name: string; run: (steps: number) => Promise<void>; seconds: number; cpu: number; images: number }> = [
  { name: '1 process', run: runSteps(new TrainStep(backbone, objective, optimizer())), seconds: 0, cpu: 0, images: 0 },
  { name: `${workers} workers`, run: runSteps(replicas), seconds: 0, cpu: 0, images: 0 },
  { name: `${workers} shards trained alone, no exchange (ceiling)`, run: runAlone, seconds: 0, cpu: 0, images: 0 },
];
const load = loadavg()[0];
const cpu = process.cpuUsage();
for (const s of sides) await s.run(1); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const s of sides) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await s.run(steps);
    const c = process.cpuUsage(c0);
    s.cpu += (c.user + c.system) / 1e6;
    s.seconds += (performance.now() - t0) / 1000;
    s.images += steps * batch;
  }
}
await pool.close();
await Promise.all(alone.map((w) => w.terminate()));
const used = process.cpuUsage(cpu);
const rate = (s: (typeof sides)[number]) => s.images / s.seconds;
console.log(`${a.net} ${inputShape.join('x')}, batch ${batch}, SGD; backend ${backend.description}; workers each on ${description}`);
console.log(`machine: ${cpus().length} cores, load average (1 min) ${load.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after; this process used ${((used.user + used.system) / 1e6).toFixed(1)} s CPU`);
console.log('| side | images/s (wall) | CPU ms per image (all threads) | cores busy |');
console.log('|---|---|---|---|');
for (const s of sides) console.log(`| ${s.name} | ${rate(s).toFixed(1)} | ${((1000 * s.cpu) / s.images).toFixed(2)} | ${(s.cpu / s.seconds).toFixed(2)} |`);
const [one, many, ceiling] = sides;
console.log(`speed-up ${workers} workers / 1 process (wall): ${(rate(many) / rate(one)).toFixed(2)}x; ceiling (shards alone) / 1 process: ${(rate(ceiling) / rate(one)).toFixed(2)}x`);
// On a loaded machine the wall ratio measures the scheduler's share; the CPU per image says what
// the workers cost in work: on N idle cores the speed-up would be about N times this ratio.
console.log(`CPU per image, 1 process / ${workers} workers: ${(one.cpu / one.images / (many.cpu / many.images)).toFixed(2)} (parallel efficiency; ${workers} idle cores -> about ${((workers * one.cpu) / one.images / (many.cpu / many.images)).toFixed(2)}x)`);
tf.disposeVariables();
