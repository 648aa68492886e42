// Where the time of one training step goes, per kernel: the project's own step (the loop's
// TrainStep: a backbone of src/train/nets, the softmax cross-entropy objective, the StageOptimizer)
// on synthetic data, on one backend.
//
//   npx tsx scripts/bench/profile-train-step.ts [--net resnet8] [--backend wasm] [--batch 64]
//       [--optimizer sgd|adam] [--steps 10] [--warmup 3] [--top 40] [--detail Kernel1,Kernel2]
//
// Every kernel call goes through tf.engine().runKernel; wrapping it times each call. A kernel of
// ours built from other kernels (src/train/backends/*-kernels) is charged only its own time
// (self time); the nested kernels it runs are listed under their own names, marked "(in ...)".
// Phases: forward (inputs, backbone and loss), backward (the rest of tf.variableGrads), optimizer
// (StageOptimizer.apply), after (buffer updates and reading the loss). "outside kernels" is
// the step's wall time not spent in any kernel: the tape, tidy, JS glue.
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { syntheticStep } from './synthetic-step.js';

const { values } = parseArgs({
  options: {
    net: { type: 'string', default: 'resnet8' },
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '64' },
    optimizer: { type: 'string', default: 'adam' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    top: { type: 'string', default: '40' },
    /** Also list every call of these kernels (comma-separated) with its input shapes. */
    detail: { type: 'string', default: '' },
  },
});
const BATCH = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
if (values.optimizer !== 'sgd' && values.optimizer !== 'adam') throw new Error('--optimizer: sgd or adam');

const backend = await resolveTrainingBackend({ backend: values.backend, log: () => {} });
const s = syntheticStep({ net: values.net, batch: BATCH, classes: 10, optimizer: values.optimizer, learningRate: 0.01 });
const variables = s.optimizer.variables;

type Phase = 'forward' | 'backward' | 'optimizer' | 'after';
const PHASES: Phase[] = ['forward', 'backward', 'optimizer', 'after'];
let phase: Phase = 'forward';
const loss = s.objective.loss.bind(s.objective);
s.objective.loss = (...args) => {
  const out = loss(...args);
  phase = 'backward';
  return out;
};
const apply = s.optimizer.apply.bind(s.optimizer);
s.optimizer.apply = (grads) => {
  phase = 'optimizer';
  apply(grads);
  phase = 'after';
};
const step = (): void => {
  phase = 'forward';
  // Read every step here, so that each step's time is all its own (the loop reads less often).
  const { values } = s.step.run(s.prepared, s.position);
  values.dataSync();
  values.dispose();
};

interface Row { calls: number; ms: number }
const rows = new Map<string, Row>();
const detailed = new Set(values.detail.split(',').filter(Boolean));
const details = new Map<string, Row>();
let recording = false;
const stack: { name: string; child: number }[] = [];
const engine = tf.engine() as unknown as { runKernel: (...args: unknown[]) => unknown };
const original = engine.runKernel;
engine.runKernel = function (this: unknown, ...args: unknown[]) {
  if (!recording) return original.apply(this, args);
  const name = args[0] as string;
  stack.push({ name, child: 0 });
  const start = performance.now();
  try {
    return original.apply(this, args);
  } finally {
    const total = performance.now() - start;
    const frame = stack.pop()!;
    if (stack.length > 0) stack[stack.length - 1].child += total;
    const parent = stack.length > 0 ? ` (in ${stack[0].name})` : '';
    const key = `${phase}\t${name}${parent}`;
    if (detailed.has(name)) {
      const inputs = Object.values(args[1] as Record<string, tf.TensorInfo>);
      const dkey = `${phase} ${name}${parent} ${inputs.map((t) => `[${t.shape}]`).join(' ')} ${JSON.stringify(args[2] ?? {})}`;
      const d = details.get(dkey) ?? { calls: 0, ms: 0 };
      d.calls++;
      d.ms += total - frame.child;
      details.set(dkey, d);
    }
    const row = rows.get(key) ?? { calls: 0, ms: 0 };
    row.calls++;
    row.ms += total - frame.child;
    rows.set(key, row);
  }
};

for (let i = 0; i < warmup; i++) step();
// Untimed-by-kernel wall clock first, then the instrumented steps (the wrapper costs a little).
let start = performance.now();
for (let i = 0; i < steps; i++) step();
const plainMs = (performance.now() - start) / steps;
recording = true;
start = performance.now();
for (let i = 0; i < steps; i++) step();
const stepMs = (performance.now() - start) / steps;
recording = false;

const perStep = [...rows].map(([key, r]) => {
  const [p, name] = key.split('\t');
  return { phase: p, name, calls: r.calls / steps, ms: r.ms / steps };
});
const inKernels = perStep.reduce((a, r) => a + r.ms, 0);
console.log(
  `\nprofile: ${s.backbone.name} + softmax-ce (${variables.length} trainable tensors, ${s.trainableParameters} parameters), ` +
    `batch ${BATCH}, ${values.optimizer}, ${backend.description}; ` +
    `${plainMs.toFixed(1)} ms/step uninstrumented (${((BATCH * 1000) / plainMs).toFixed(1)} img/s), ` +
    `${stepMs.toFixed(1)} ms/step instrumented`,
);
console.log('\n| phase | ms/step | share |\n|---|---:|---:|');
for (const p of PHASES) {
  const ms = perStep.filter((r) => r.phase === p).reduce((a, r) => a + r.ms, 0);
  console.log(`| ${p} | ${ms.toFixed(1)} | ${((100 * ms) / stepMs).toFixed(1)}% |`);
}
console.log(`| outside kernels | ${(stepMs - inKernels).toFixed(1)} | ${((100 * (stepMs - inKernels)) / stepMs).toFixed(1)}% |`);
const calls = perStep.reduce((a, r) => a + r.calls, 0);
console.log(`\n${calls.toFixed(0)} kernel calls per step (${perStep.filter((r) => !r.name.includes(' (in ')).reduce((a, r) => a + r.calls, 0).toFixed(0)} from the step itself, the rest inside our composite kernels).`);

console.log('\n| kernel (all phases) | calls/step | ms/step | share |\n|---|---:|---:|---:|');
const byName = new Map<string, { calls: number; ms: number }>();
for (const r of perStep) {
  const row = byName.get(r.name) ?? { calls: 0, ms: 0 };
  row.calls += r.calls;
  row.ms += r.ms;
  byName.set(r.name, row);
}
for (const [name, r] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) {
  console.log(`| ${name} | ${r.calls.toFixed(0)} | ${r.ms.toFixed(2)} | ${((100 * r.ms) / stepMs).toFixed(1)}% |`);
}
console.log('\n| phase | kernel | calls/step | ms/step |\n|---|---|---:|---:|');
for (const r of perStep.sort((a, b) => b.ms - a.ms).slice(0, Number(values.top))) {
  console.log(`| ${r.phase} | ${r.name} | ${r.calls.toFixed(0)} | ${r.ms.toFixed(2)} |`);
}
if (details.size > 0) {
  console.log('\n| call | calls/step | ms/step |\n|---|---:|---:|');
  for (const [k, r] of [...details].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`| ${k} | ${(r.calls / steps).toFixed(0)} | ${(r.ms / steps).toFixed(2)} |`);
  }
}
s.dispose();
