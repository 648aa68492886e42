// Training throughput per backend on one fixed small CNN, written with raw tf ops (no tf.layers)
// so the numbers measure the backends' kernels, forward and backward, not layer bookkeeping;
// and, next to it, on the project's own training path (a GraphNet classifier from
// src/train/nets, the net `protoserve train` trains by default), so its overhead shows in one run.
//
//   npx tsx scripts/bench/train-speed.ts [--backends wasm,cpu] [--nets small-cnn,resnet8] [--steps N] [--cpu-steps M]
//
// small-cnn: 28x28x1 -> conv3x3 16 -> relu -> conv3x3/2 32 -> relu -> conv3x3/2 64 -> relu
//            -> global average pool -> dense 10.
// resnet8:   buildClassifierNet('resnet8', 10, width 16) on 28x28x1: ~4-5x the small CNN's
//            multiply-adds, plus 7 batch norms (batch statistics) and 2 projection shortcuts.
// Both: softmax cross-entropy, plain SGD, batch 64, the same data. (`protoserve train` uses Adam;
// its update is under 1% of a resnet8 step, see scripts/bench/profile-train-step.ts.)
// Every backend starts from the same weights and data (seeded). wasm is always measured too: it is
// the baseline the other figures are divided by, from the same run on the same machine.
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import {
  TRAINING_BACKEND_NAMES,
  TrainingBackendError,
  isTrainingBackendName,
  resolveTrainingBackend,
  type TrainingBackendName,
} from '../../src/train/backends/index.js';
import { buildClassifierNet } from '../../src/train/nets/classifier.js';
import { mulberry32 } from '../../src/seeded-random.js';

const NET_NAMES = ['small-cnn', 'resnet8'] as const;
type NetName = (typeof NET_NAMES)[number];

const BATCH = 64;
const CLASSES = 10;
const LEARNING_RATE = 0.05;

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: TRAINING_BACKEND_NAMES.join(',') },
    nets: { type: 'string', default: NET_NAMES.join(',') },
    steps: { type: 'string', default: '30' },
    'cpu-steps': { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
  },
});

const requested = values.backends.split(',').map((s) => s.trim()).filter(Boolean);
for (const name of requested) {
  if (!isTrainingBackendName(name)) {
    console.error(`Unsupported backend: "${name}". Should be one of: ${TRAINING_BACKEND_NAMES.join(', ')}`);
    process.exit(2);
  }
}
const backends = requested as TrainingBackendName[];
const nets = values.nets.split(',').map((s) => s.trim()).filter(Boolean);
for (const name of nets) {
  if (!(NET_NAMES as readonly string[]).includes(name)) {
    console.error(`Unsupported net: "${name}". Should be one of: ${NET_NAMES.join(', ')}`);
    process.exit(2);
  }
}
if (!backends.includes('wasm')) backends.push('wasm');
const steps = positiveInt(values.steps, '--steps');
const cpuSteps = positiveInt(values['cpu-steps'], '--cpu-steps');
const warmup = Math.max(0, Number(values.warmup) | 0);

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${flag} must be a positive integer, got "${text}"`);
    process.exit(2);
  }
  return n;
}

/** He-initialized weights as plain arrays, so every backend starts from identical values. */
function initialWeights(): Record<string, { shape: number[]; values: Float32Array }> {
  // Independent of any backend's RNG, so every backend starts from identical values.
  const uniform = mulberry32(12345);
  const make = (shape: number[], fanIn: number) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const limit = Math.sqrt(6 / fanIn);
    return { shape, values: Float32Array.from({ length: size }, () => (uniform() * 2 - 1) * limit) };
  };
  const zeros = (n: number) => ({ shape: [n], values: new Float32Array(n) });
  return {
    w1: make([3, 3, 1, 16], 9), b1: zeros(16),
    w2: make([3, 3, 16, 32], 144), b2: zeros(32),
    w3: make([3, 3, 32, 64], 288), b3: zeros(64),
    w4: make([64, CLASSES], 64), b4: zeros(CLASSES),
  };
}

function makeBatch(): { x: Float32Array; labels: Int32Array } {
  const next = mulberry32(777);
  const x = Float32Array.from({ length: BATCH * 28 * 28 }, () => next());
  const labels = Int32Array.from({ length: BATCH }, () => Math.floor(next() * CLASSES));
  return { x, labels };
}

interface Result {
  backend: TrainingBackendName;
  net: NetName;
  description?: string;
  unavailable?: string;
  imagesPerSecond?: number;
  steps?: number;
  /** Loss of the untrained net: identical weights and data, so equal across backends to ~1e-5. */
  initialLoss?: number;
  lastLoss?: number;
}

/** The loss of one net on (x, y) and its trainable variables; dispose frees the variables. */
interface Model {
  logits: (x: tf.Tensor4D) => tf.Tensor2D;
  variables: tf.Variable[];
  dispose: () => void;
}

function smallCnn(backend: TrainingBackendName): Model {
  const init = initialWeights();
  const vars = Object.fromEntries(
    Object.entries(init).map(([k, v]) => [k, tf.variable(tf.tensor(v.values, v.shape), true, `${backend}/${k}`)]),
  ) as Record<keyof typeof init, tf.Variable>;
  return {
    logits: (x) => {
      let h: tf.Tensor = tf.relu(tf.add(tf.conv2d(x, vars.w1 as tf.Tensor4D, 1, 'same'), vars.b1));
      h = tf.relu(tf.add(tf.conv2d(h as tf.Tensor4D, vars.w2 as tf.Tensor4D, 2, 'same'), vars.b2));
      h = tf.relu(tf.add(tf.conv2d(h as tf.Tensor4D, vars.w3 as tf.Tensor4D, 2, 'same'), vars.b3));
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
      return tf.add(tf.matMul(pooled, vars.w4 as tf.Tensor2D), vars.b4);
    },
    variables: Object.values(vars),
    dispose: () => tf.dispose(Object.values(vars)),
  };
}

function graphNet(): Model {
  // Seeded initialization (independent of the backend), as `protoserve train` builds it.
  const net = buildClassifierNet('resnet8', CLASSES, { inputShape: [28, 28, 1], width: 16, seed: 1 });
  return { logits: (x) => net.apply(x, true), variables: net.trainableVariables(), dispose: () => net.dispose() };
}

async function measure(name: TrainingBackendName, netName: NetName): Promise<Result> {
  let description: string;
  try {
    description = (await resolveTrainingBackend({ backend: name, log: () => {} })).description;
  } catch (error) {
    if (error instanceof TrainingBackendError) return { backend: name, net: netName, unavailable: error.message };
    throw error;
  }
  const model = netName === 'resnet8' ? graphNet() : smallCnn(name);
  const batch = makeBatch();
  const x = tf.tensor4d(batch.x, [BATCH, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), CLASSES);
  const loss = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(y, model.logits(x)) as tf.Scalar);
  const varList = model.variables;
  const step = (): number =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(loss, varList);
      for (const v of varList) v.assign(tf.sub(v, tf.mul(grads[v.name], LEARNING_RATE)));
      return value.dataSync()[0]; // waits for the step to finish on asynchronous backends
    });

  // (The loss of resnet8 in training mode also moves its batch norms' running statistics.)
  const initialLoss = tf.tidy(() => loss().dataSync()[0]);
  const count = name === 'cpu' ? cpuSteps : steps;
  const warm = name === 'cpu' ? 0 : warmup; // a cpu step takes tens of seconds; JIT warm-up is noise there
  for (let i = 0; i < warm; i++) step();
  let lastLoss = NaN;
  let lastReport = 0;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    lastLoss = step();
    const now = performance.now();
    const elapsed = (now - start) / 1000;
    const rate = ((i + 1) * BATCH) / elapsed;
    const eta = (count - i - 1) * (elapsed / (i + 1));
    const line = `  ${name} ${netName}: step ${i + 1}/${count}, ${rate.toFixed(1)} images/s, ETA ${eta.toFixed(0)} s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}   ${i + 1 === count ? '\n' : ''}`);
    else if (now - lastReport > 10_000 || i + 1 === count) {
      process.stderr.write(line + '\n');
      lastReport = now;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([x, y]);
  model.dispose();
  return { backend: name, net: netName, description, imagesPerSecond: (count * BATCH) / seconds, steps: count, initialLoss, lastLoss };
}

const results: Result[] = [];
for (const netName of nets as NetName[]) for (const name of backends) results.push(await measure(name, netName));

console.log(`\ntrain-speed: ${nets.join(' and ')} on 28x28x1, batch ${BATCH}, SGD; ${new Date().toISOString()}`);
console.log('| net | backend | what runs | steps | images/s | vs wasm | initial loss -> after warm-up and steps |');
console.log('|---|---|---|---:|---:|---:|---|');
for (const r of results) {
  if (r.unavailable) {
    console.log(`| ${r.net} | ${r.backend} | unavailable: ${r.unavailable.split('. ')[0].replace(/^Training backend "[^"]+" cannot run here: /, '')} | | | | |`);
    continue;
  }
  const baseline = results.find((b) => b.backend === 'wasm' && b.net === r.net)?.imagesPerSecond;
  const ratio = baseline ? (r.imagesPerSecond! / baseline).toFixed(3) : 'n/a';
  console.log(
    `| ${r.net} | ${r.backend} | ${r.description} | ${r.steps} | ${r.imagesPerSecond!.toFixed(1)} | ${ratio} | ` +
      `${r.initialLoss!.toFixed(5)} -> ${r.lastLoss!.toFixed(4)} |`,
  );
}
