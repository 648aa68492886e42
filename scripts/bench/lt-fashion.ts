// The long-tail experiment of issue 7: Fashion-MNIST-LT (imbalance 100, exp profile, n_max 6000,
// 14886 training images; the 10k test images stay balanced), a small CIFAR ResNet, BCE3S
// (stage 1 + stage 2) against softmax CE and logit-adjusted CE (tau = 1), with the same
// backbone, optimizer, schedule, epochs and batch size, over seeds and over both class orders.
//
//   nice -n 10 npx tsx scripts/bench/lt-fashion.ts [--seeds 1,2] [--orders index,reversed]
//       [--objectives bce3s,softmax-ce,logit-adjusted-ce] [--epochs 8] [--width 8] [--jobs 2]
//       [--out runs/lt-fashion] [--stage2-lrs 1e-3,1e-2] [--backend tfjs-node]
//
// --backend is passed to every run (default: each run takes the best that loads; the table's
// times are only comparable within one backend).
//
// --stage2-lrs adds, for every BCE3S run, stage 2 again from its stage-1 checkpoint
// (checkpoint.joint.ckpt) at each of these learning rates (an ablation of the reference's 1e-4;
// <out>/<order>/bce3s-seed<seed>-stage2-lr<X>), reported as rows of their own.
//
// Each run is `protoserve train` in its own folder (<out>/<order>/<objective>-seed<seed>, with
// train.log); a finished run is reused when the bench is started again with the same settings,
// and an interrupted one resumes from its checkpoint. The table (mean and sample standard
// deviation over seeds) goes to stdout and to <out>/results.md, the numbers to
// <out>/results.json.
//
// Settings, and why:
// - r = 1 for BCE3S: with C = 10, the reference's r = 0.4 keeps int(0.4 * 10) = 4 columns, fewer
//   than the classes present in almost every batch of 64, so the original view's BCE would see
//   only the lowest-scored present classes and no negatives at all; partial negatives exist to
//   thin the negatives of 100-class sets (issue 7).
// - Both class orders: in index order the rarest classes (sneaker, bag, ankle boot) are among the
//   easiest of Fashion-MNIST, so the tail says little; reversed order makes T-shirt, trouser and
//   pullover rare.
// - Many / Medium / Few: the CIFAR-100-LT thresholds (> 100, 20..100, < 20 training images, for
//   n_max 500) scaled by n_max = 6000 / 500 = 12: Many > 1200, Few < 240. Unscaled, no class of
//   this set would be Few (n_min = 60) and Medium would hold two classes. Groups: 4 / 3 / 3 classes.
// - The optimizer is BCE3S's reference (SGD, momentum 0.9, lr 0.01, weight decay 5e-3, cosine,
//   batch 64) for every objective; BCE3S's stage 2 runs with the reference's defaults (10 epochs,
//   lr 1e-4, beta 0.99999, MaxNorm 0.1). Evaluation: flip-averaged logits, every epochs/2 epochs.
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatDuration } from '../../src/progress.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2' },
    orders: { type: 'string', default: 'index,reversed' },
    objectives: { type: 'string', default: 'bce3s,softmax-ce,logit-adjusted-ce' },
    epochs: { type: 'string', default: '8' },
    'stage2-epochs': { type: 'string', default: '10' },
    'stage2-lrs': { type: 'string', default: '' },
    width: { type: 'string', default: '8' },
    net: { type: 'string', default: 'resnet8' },
    lr: { type: 'string', default: '0.01' },
    'weight-decay': { type: 'string', default: '5e-3' },
    jobs: { type: 'string', default: '2' },
    out: { type: 'string', default: 'runs/lt-fashion' },
    backend: { type: 'string' },
    'eval-every': { type: 'string' },
    // Smoke runs of the bench itself: a smaller long-tailed set (n_max) and test set.
    'max-per-class': { type: 'string' },
    'test-limit': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const seeds = list(values.seeds).map(Number);
const orders = list(values.orders);
const objectives = list(values.objectives);
const epochs = Number(values.epochs);
const jobs = Number(values.jobs);
const evalEvery = values['eval-every'] ?? String(Math.max(1, Math.floor(epochs / 2)));
for (const o of orders) if (o !== 'index' && o !== 'reversed') throw new Error(`--orders: "${o}" is not index or reversed`);
if (!(Number.isInteger(epochs) && epochs > 0) || !(Number.isInteger(jobs) && jobs > 0) || seeds.some((s) => !Number.isInteger(s))) {
  throw new Error('--epochs, --jobs: positive integers; --seeds: integers');
}

interface Plan {
  order: string;
  objective: string;
  seed: number;
  dir: string;
  args: string[];
  /** The table's row. */
  method: string;
  /** Ablations: the BCE3S run whose stage-1 checkpoint stage 2 starts from. */
  base?: Plan;
}

const plans: Plan[] = seeds.flatMap((seed) => orders.flatMap((order) => objectives.map((objective) => {
  const dir = join(values.out, order, `${objective}-seed${seed}`);
  const args = [
    '--dataset', 'fashion-mnist', '--imbalance', '100', '--class-order', order,
    '--net', values.net, '--width', values.width, '--batch-size', '64', '--epochs', String(epochs),
    '--optimizer', 'sgd', '--lr', values.lr, '--momentum', '0.9', '--weight-decay', values['weight-decay'], '--schedule', 'cosine',
    '--eval-every', evalEvery, '--group-thresholds', '1200,240', '--checkpoint-every', '0', '--seed', String(seed),
    '--objective', objective, ...(objective === 'bce3s' ? ['--r', '1', '--stage2-epochs', values['stage2-epochs']] : []),
    ...(values['max-per-class'] ? ['--max-per-class', values['max-per-class']] : []),
    ...(values['test-limit'] ? ['--test-limit', values['test-limit']] : []),
    ...(values.backend ? ['--backend', values.backend] : []),
    '--out', dir,
  ];
  return { order, objective, seed, dir, args, method: objective === 'bce3s' ? 'bce3s (stage 1 + 2)' : objective };
})));
// Stage-2 ablations run after every base run has started, each once its base has finished.
for (const base of plans.filter((p) => p.objective === 'bce3s')) {
  for (const lr of list(values['stage2-lrs'])) {
    const dir = `${base.dir}-stage2-lr${lr}`;
    const args = [...base.args.slice(0, -2), '--stage2-lr', lr, '--out', dir];
    plans.push({ ...base, dir, args, method: `bce3s (stage 2 at lr ${lr})`, base });
  }
}

interface RunReport {
  complete: boolean;
  config: Record<string, unknown>;
  dataset: { classNames: string[]; classCounts: number[] };
  history: Array<{ stage: string; epoch: number; seconds: number; metrics: Record<string, number> }>;
}

interface Timing {
  wallSeconds: number;
  cpuSeconds?: number;
}

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** User + system CPU seconds of a process (all threads), from /proc; undefined where unavailable. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/** Runs (or resumes) one training; a finished one with the same arguments is reused. */
async function runOne(plan: Plan): Promise<void> {
  const argsFile = join(plan.dir, 'bench-args.json');
  const reportFile = join(plan.dir, 'report.json');
  const checkpoint = join(plan.dir, 'checkpoint.ckpt');
  if (existsSync(argsFile) && JSON.stringify(readJson(argsFile)) !== JSON.stringify(plan.args)) {
    throw new Error(`${plan.dir} holds a run with other settings (${argsFile}); move it away or choose another --out`);
  }
  if (existsSync(checkpoint) && !existsSync(argsFile)) throw new Error(`${plan.dir} holds a run this bench did not start; move it away or choose another --out`);
  if (existsSync(reportFile) && readJson<RunReport>(reportFile).complete) return;
  mkdirSync(plan.dir, { recursive: true });
  writeFileSync(argsFile, JSON.stringify(plan.args));
  if (plan.base && !existsSync(checkpoint)) {
    await finished.get(plan.base.dir);
    copyFileSync(join(plan.base.dir, 'checkpoint.joint.ckpt'), checkpoint);
  }
  const resume = existsSync(checkpoint) ? ['--resume'] : [];
  const started = performance.now();
  const log = join(plan.dir, 'train.log');
  // The run's progress lines go to its train.log as they come (tail -f it).
  const logFd = openSync(log, resume.length ? 'a' : 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'train', ...plan.args, ...resume], { stdio: ['ignore', 'ignore', logFd] });
  // Wall and CPU time accumulate over the invocations of a resumed run; written as they go, so a
  // bench stopped mid-run keeps what its runs spent.
  const timingFile = join(plan.dir, 'bench-timing.json');
  // Time spent before the last checkpoint counts; a run started over (no checkpoint yet) starts at 0.
  const before: Timing = resume.length && existsSync(timingFile) ? readJson<Timing>(timingFile) : { wallSeconds: 0, cpuSeconds: 0 };
  let cpu: number | undefined;
  const record = () => {
    cpu = cpuSeconds(child.pid!) ?? cpu;
    const timing: Timing = {
      wallSeconds: before.wallSeconds + (performance.now() - started) / 1000,
      cpuSeconds: cpu !== undefined && before.cpuSeconds !== undefined ? before.cpuSeconds + cpu : undefined,
    };
    writeFileSync(timingFile, JSON.stringify(timing));
  };
  const poll = setInterval(record, 5000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(poll);
  closeSync(logFd);
  if (code !== 0) throw new Error(`${plan.objective} ${plan.order} seed ${plan.seed} failed (exit ${code}); see ${log}`);
  record();
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.error(`lt-fashion: ${plans.length} runs, ${jobs} at a time, into ${values.out}; load average ${load()}`);
const t0 = performance.now();
let next = 0;
let done = 0;
const finished = new Map<string, Promise<void>>();
await Promise.all(Array.from({ length: Math.min(jobs, plans.length) }, async () => {
  while (next < plans.length) {
    const plan = plans[next++];
    const t = performance.now();
    const run = runOne(plan);
    finished.set(plan.dir, run);
    await run;
    done++;
    console.error(`[${done}/${plans.length}] ${plan.order} ${plan.method} seed ${plan.seed}: ${formatDuration((performance.now() - t) / 1000)} (load ${load()})`);
  }
}));

// ------------------------------------------------------------------------------------- table
interface Row {
  order: string;
  method: string;
  values: Record<string, number[]>;
}

const COLUMNS: Array<[string, string, 'pct' | 'num' | 'min']> = [
  ['class_averaged_accuracy', 'overall', 'pct'],
  ['many_accuracy', 'many', 'pct'],
  ['medium_accuracy', 'medium', 'pct'],
  ['few_accuracy', 'few', 'pct'],
  ['compactness', 'compactness', 'num'],
  ['separability', 'separability', 'num'],
  ['train_minutes', 'train wall', 'min'],
  ['cpu_minutes', 'CPU', 'min'],
];

const rows: Row[] = [];
const row = (order: string, method: string) => {
  let r = rows.find((x) => x.order === order && x.method === method);
  if (!r) rows.push((r = { order, method, values: {} }));
  return r;
};
const add = (r: Row, key: string, v: number | undefined) => {
  if (v !== undefined && Number.isFinite(v)) (r.values[key] ??= []).push(v);
};
const groups = new Map<string, string>();
for (const plan of plans) {
  const report = readJson<RunReport>(join(plan.dir, 'report.json'));
  const timing = readJson<Timing>(join(plan.dir, 'bench-timing.json'));
  const { classNames, classCounts } = report.dataset;
  const names = (pick: (n: number) => boolean) => classNames.filter((_, c) => pick(classCounts[c])).join(', ');
  groups.set(plan.order, `Many (> 1200): ${names((n) => n > 1200)}; Medium: ${names((n) => n >= 240 && n <= 1200)}; Few (< 240): ${names((n) => n < 240)}`);
  const evaluated = report.history.filter((h) => Object.keys(h.metrics).length > 0);
  const stages: Array<[string, typeof evaluated]> = plan.objective === 'bce3s' && !plan.base
    ? [['bce3s stage 1', report.history.filter((h) => h.stage === 'joint')], [plan.method, report.history]]
    : [[plan.method, report.history]];
  for (const [method, history] of stages) {
    const last = history.filter((h) => Object.keys(h.metrics).length > 0).at(-1) ?? evaluated.at(-1)!;
    const r = row(plan.order, method);
    for (const [key] of COLUMNS.slice(0, 6)) add(r, key, last.metrics[key]);
    add(r, 'train_minutes', history.reduce((s, h) => s + h.seconds, 0) / 60);
    // CPU of whole runs only (an ablation's own time is its stage 2 alone).
    if (method !== 'bce3s stage 1' && !plan.base) add(r, 'cpu_minutes', timing.cpuSeconds !== undefined ? timing.cpuSeconds / 60 : undefined);
  }
}

function stats(v: number[] | undefined): { mean: number; sd: number; n: number } | undefined {
  if (!v || v.length === 0) return undefined;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : NaN;
  return { mean, sd, n: v.length };
}

function cell(v: number[] | undefined, kind: 'pct' | 'num' | 'min'): string {
  const s = stats(v);
  if (!s) return '-';
  const f = (x: number) => (kind === 'pct' ? (100 * x).toFixed(2) : kind === 'num' ? x.toFixed(3) : x.toFixed(1));
  return Number.isNaN(s.sd) ? f(s.mean) : `${f(s.mean)} ± ${f(s.sd)}`;
}

const lines: string[] = [
  `# Fashion-MNIST-LT, imbalance 100: BCE3S vs softmax CE vs logit-adjusted CE`,
  '',
  `${values.net} width ${values.width}, batch 64, SGD momentum 0.9, lr ${values.lr}, weight decay ${values['weight-decay']}, cosine, ` +
    `${epochs} epochs (BCE3S: + ${values['stage2-epochs']} epochs of stage 2), seeds ${seeds.join(', ')}${values.backend ? `, backend ${values.backend}` : ''}; ` +
    `accuracies (%) class-averaged on the 10k test images with flip-averaged logits; mean ± sample sd over seeds.`,
  `Compactness: mean cosine of test features to their class mean (higher: more compact); separability: mean cosine between`,
  `class means (lower: more separable). Train wall: the epochs' wall time on this (shared) machine; CPU: the run's CPU time,`,
  `about what an idle core would need.`,
  '',
];
for (const order of orders) {
  lines.push(`## ${order} class order`, '', groups.get(order) ?? '', '');
  lines.push(`| method | ${COLUMNS.map(([, h]) => h).join(' | ')} |`, `|---|${COLUMNS.map(() => '---:').join('|')}|`);
  const bce3sFirst = (r: Row) => (r.method.startsWith('bce3s') ? 0 : 1);
  for (const r of rows.filter((x) => x.order === order).sort((x, y) => bce3sFirst(x) - bce3sFirst(y))) lines.push(`| ${r.method} | ${COLUMNS.map(([k, , kind]) => cell(r.values[k], kind)).join(' | ')} |`);
  lines.push('');
}
lines.push(`Whole bench: ${formatDuration((performance.now() - t0) / 1000)} wall this invocation; load average at the end ${load()}.`);
const text = lines.join('\n');
console.log(text);
writeFileSync(join(values.out, 'results.md'), `${text}\n`);
writeFileSync(join(values.out, 'results.json'), `${JSON.stringify({ settings: values, plans: plans.map((p) => ({ ...p })), rows }, null, 2)}\n`);
