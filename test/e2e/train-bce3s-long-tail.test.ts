// `protoserve train --objective bce3s` on real Fashion-MNIST-LT as a user runs it, a few steps of
// both stages on a tiny net: the long-tailed counts in the report, the second stage freezing the
// backbone (batch norm still moving), MaxNorm at each stage-2 epoch end with the threshold fixed
// when the stage began, a run stopped inside stage 1, at the stage boundary and inside stage 2
// ending bit for bit where an uninterrupted run ends, contradicting flags refused on resume, and
// the export: onnxruntime's probabilities equal softmax(hat(W) f + b) of the trainer's features,
// with no training-only tensor (projector, memory) in the graph.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import pkg from 'onnx-proto';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { exportCommand } from '../../src/export/export-command.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { buildRunModels } from '../../src/train/build-net.js';
import { readCheckpoint, type Checkpoint } from '../../src/train/checkpoint.js';
import { BatchMaker } from '../../src/train/data/batches.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import { LONG_TAIL_OPTIONS } from '../../src/train/long-tail-flags.js';
import type { RunState } from '../../src/train/loop.js';
import { trainCommand } from '../../src/train/train-command.js';
import { quietly } from '../helpers/quietly.js';

const { onnx } = pkg;

// n_max 24, imbalance 10, reversed: class 9 has 24 images, class 0 two; 6 steps of 16 per epoch.
const ARGS = [
  '--dataset', 'fashion-mnist', '--objective', 'bce3s', '--imbalance', '10', '--max-per-class', '24', '--class-order', 'reversed',
  '--net', 'resnet8', '--width', '2', '--batch-size', '16', '--epochs', '2', '--stage2-epochs', '2', '--stage2-lr', '0.01',
  '--r', '1', '--test-limit', '40', '--checkpoint-every', '0',
];
const STEPS_PER_EPOCH = 6;

const trainQuietly = (args: string[]) => quietly(() => trainCommand(args));
const ckpt = (run: string) => readCheckpoint<RunState>(join(run, 'checkpoint.ckpt'));
const rowNorms = (values: Float32Array, d: number) => Array.from({ length: values.length / d }, (_, r) => Math.hypot(...values.subarray(r * d, (r + 1) * d)));

describe('protoserve train --objective bce3s on Fashion-MNIST-LT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bce3s-lt-'));
  const straight = join(dir, 'straight');
  const stopped = join(dir, 'stopped');
  const snapshots: Record<string, Checkpoint<RunState>> = {};

  before(async () => {
    assert.equal(await trainQuietly([...ARGS, '--out', straight]), 0);
    // The same run, stopped inside stage 1, at the stage boundary, and inside stage 2, resumed
    // the way the trainer tells the user to (--resume --out).
    assert.equal(await trainQuietly([...ARGS, '--out', stopped, '--max-steps', '4']), 0);
    snapshots.insideJoint = ckpt(stopped);
    assert.equal(await trainQuietly(['--resume', '--out', stopped, '--max-steps', String(2 * STEPS_PER_EPOCH - 4)]), 0);
    snapshots.boundary = ckpt(stopped);
    assert.equal(await trainQuietly(['--resume', '--out', stopped, '--max-steps', '3']), 0);
    snapshots.insideRebalance = ckpt(stopped);
    assert.equal(await trainQuietly(['--resume', '--out', stopped]), 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains on the long-tailed subset and reports its per-class counts', () => {
    const report = JSON.parse(readFileSync(join(straight, 'report.json'), 'utf8'));
    // n_i = int(24 * 0.1^(i/9)), the largest for class 9 in reversed order.
    const expected = Array.from({ length: 10 }, (_, i) => Math.trunc(24 * 0.1 ** (i / 9))).reverse();
    assert.deepEqual(report.dataset.classCounts, expected);
    assert.equal(report.complete, true);
    assert.deepEqual(report.history.map((h: { stage: string; epoch: number }) => `${h.stage} ${h.epoch}`), ['joint 1', 'joint 2', 'rebalance 1', 'rebalance 2']);
    assert.deepEqual(report.config.longTail, { imbalance: 10, profile: 'exp', order: 'reversed', maxPerClass: 24 });
    assert.deepEqual(report.config.augment, { padding: 2, flip: true }, 'Fashion-MNIST: crops and flips by default');
    assert.equal(report.config.evalFlip, true);
    assert.equal(report.config.objectiveOptions.r, 1);
    assert.equal(report.config.objectiveOptions.beta, 0.99999, 'the reference\'s default, recorded');
    assert.deepEqual(Object.keys(report.history[1].terms), ['sc', 'ss', 'cc']);
    assert.ok(report.history[1].terms.ss > 0 && report.history[0].terms.ss === 0, 'the contrastive term starts in epoch 2');
    const md = readFileSync(join(straight, 'report.md'), 'utf8');
    assert.match(md, /\| 9 \| Ankle boot \| 24 \|/);
    assert.match(md, /Long-tailed training subset: exp profile, imbalance 10, reversed class order \((\d+\/){9}24 images per class\); random crops after 2 pixels of padding and horizontal flips; evaluation on flip-averaged logits/);
  });

  it('resumes inside stage 1, at the boundary and inside stage 2 to exactly the uninterrupted run', () => {
    const a = ckpt(straight);
    const b = ckpt(stopped);
    assert.deepEqual([snapshots.insideJoint.state.stage, snapshots.boundary.state.stage, snapshots.insideRebalance.state.stage], [0, 1, 1]);
    assert.deepEqual([snapshots.boundary.state.epoch, snapshots.boundary.state.stepInEpoch, snapshots.insideRebalance.state.stepInEpoch], [0, 0, 3]);
    for (const group of ['weights', 'objective', 'optimizer'] as const) {
      assert.deepEqual(Object.keys(b[group]), Object.keys(a[group]), group);
      for (const name of Object.keys(a[group])) assert.deepEqual(b[group][name].values, a[group][name].values, `${group} ${name}`);
    }
    assert.deepEqual(b.state.history.map((h) => h.metrics), a.state.history.map((h) => h.metrics));
    assert.ok(a.objective.memory.values.some((v) => v !== 0), 'the class memory was written and checkpointed');
  });

  it('stage 2 freezes the backbone, moves its batch-norm statistics, trains W and b', () => {
    const { boundary, insideRebalance } = snapshots;
    const changed = (x: Float32Array, y: Float32Array) => x.some((v, i) => v !== y[i]);
    const names = Object.keys(boundary.weights);
    const moved = names.filter((n) => changed(boundary.weights[n].values, insideRebalance.weights[n].values));
    assert.ok(moved.length > 0 && moved.every((n) => /running_(mean|var)$/.test(n)), `only running statistics moved: ${moved.join(', ')}`);
    for (const name of ['classifier.weight', 'classifier.bias']) assert.ok(changed(boundary.objective[name].values, insideRebalance.objective[name].values), name);
    for (const name of ['projector.w1', 'projector.b2', 'memory']) assert.deepEqual(insideRebalance.objective[name].values, boundary.objective[name].values, `${name} is stage 1's`);
  });

  it('projects W by MaxNorm after each stage-2 epoch, with the threshold measured when the stage began', () => {
    const d = 8; // resnet8 width 2: 4 * 2 features
    const start = rowNorms(snapshots.boundary.objective['classifier.weight'].values, d);
    const t = Math.min(...start) + 0.1 * (Math.max(...start) - Math.min(...start));
    const { values: [stored] } = ckpt(straight).objective['maxnorm.threshold'];
    assert.ok(Math.abs(stored - t) <= 1e-6 * t, `stored threshold ${stored}, measured from stage 1's W ${t}`);
    // Inside the epoch, nothing projects yet: stage 1 left rows longer than t.
    assert.ok(Math.max(...rowNorms(snapshots.insideRebalance.objective['classifier.weight'].values, d)) > t * (1 + 1e-3));
    const end = rowNorms(ckpt(straight).objective['classifier.weight'].values, d);
    assert.ok(end.every((n) => n <= t * (1 + 1e-5)), `every row capped at ${t}: ${end.map((n) => n.toFixed(4)).join(', ')}`);
  });

  it('keeps the stage-1 checkpoint, from which stage 2 runs again with other settings', async () => {
    const again = join(dir, 'again');
    mkdirSync(again);
    copyFileSync(join(straight, 'checkpoint.joint.ckpt'), join(again, 'checkpoint.ckpt'));
    const joint = ckpt(again);
    assert.deepEqual([joint.state.stage, joint.state.epoch, joint.state.stepInEpoch], [1, 0, 0]);
    for (const name of Object.keys(joint.weights)) assert.deepEqual(joint.weights[name].values, snapshots.boundary.weights[name].values, name);
    assert.equal(await trainQuietly(['--resume', '--out', again, '--stage2-lr', '0.05', '--stage2-epochs', '1']), 0);
    const done = ckpt(again).state;
    assert.equal(done.config.stages[1].learningRate, 0.05);
    assert.deepEqual(done.history.map((h) => `${h.stage} ${h.epoch}`), ['joint 1', 'joint 2', 'rebalance 1']);
  });

  it('refuses flags that contradict the stored run on resume', async () => {
    const resume = (...flags: string[]) => trainQuietly(['--resume', '--out', stopped, ...flags]);
    await assert.rejects(resume('--imbalance', '50'), /longTail\.imbalance 50 differs from the run's 10/);
    await assert.rejects(resume('--no-flip'), /augment\.flip false differs from the run's true/);
    await assert.rejects(resume('--beta', '0.9'), /objectiveOptions\.beta 0\.9 differs from the run's 0\.99999/);
    await assert.rejects(resume('--stage2-lr', '0.5'), /stage2-learningRate 0\.5 differs from the run's 0\.01/);
    await assert.rejects(resume('--tau', '2'), /--tau is an option of logit-adjusted-ce, not of bce3s/);
    await assert.rejects(trainQuietly([...ARGS, '--out', join(dir, 'x'), '--objective', 'softmax-ce']), /--stage2-\*: softmax-ce has one stage/);
    await assert.rejects(trainQuietly(['--dataset', 'fashion-mnist', '--out', join(dir, 'x'), '--r', '1']), /--r is an option of bce3s, not of softmax-ce/);
    await assert.rejects(trainQuietly(['--dataset', 'fashion-mnist', '--out', join(dir, 'x'), '--class-order', 'reversed']), /give --imbalance N too/);
  });

  it('exports hat(W) and b only: onnxruntime equals softmax(hat(W) f + b) of the trainer', async () => {
    const models = join(dir, 'models');
    assert.equal(await quietly(() => exportCommand(['--run', straight, '--name', 'fashion-lt', '--models', models])), 0);
    const artifact = await readArtifact(join(models, 'fashion-lt'));
    const { provenance } = artifact.manifest;
    const last = ckpt(straight).state.history.at(-1)!;
    for (const key of ['class_averaged_accuracy', 'medium_accuracy', 'few_accuracy']) assert.equal(provenance.metrics?.[key], last.metrics[key], key);
    assert.equal(provenance.objective, 'bce3s');
    const graph = onnx.ModelProto.decode(readFileSync(artifact.modelPath)).graph!;
    const dims = (graph.initializer ?? []).map((t) => (t.dims ?? []).map(Number));
    assert.ok(!dims.some((s) => s.includes(128)), 'no projector or memory tensor (p = 128) in the graph');
    assert.ok(!(graph.initializer ?? []).some((t) => /projector|memory/.test(t.name ?? '')));

    const fashion = loadDataset('fashion-mnist');
    const c = ckpt(straight);
    const { backbone, objective } = buildRunModels(c.state.config, fashion);
    backbone.setWeights(c.weights);
    const batch = new BatchMaker(fashion).make(fashion.test, 0, 6);
    const features = tf.tidy(() => backbone.apply(tf.tensor4d(batch.pixels, [6, 28, 28, 1]), false).arraySync() as number[][]);
    const W = c.objective['classifier.weight'].values;
    const b = c.objective['classifier.bias'].values;
    const d = features[0].length;
    const session = await ModelSession.create(artifact, { device: 'cpu' });
    const served = await session.run(batch.pixels, 6);
    features.forEach((f, i) => {
      const z = Array.from({ length: 10 }, (_, k) => {
        const w = W.subarray(k * d, (k + 1) * d);
        const norm = Math.max(Math.hypot(...w), 1e-5);
        return b[k] + f.reduce((s, x, j) => s + (x * w[j]) / norm, 0);
      });
      const max = Math.max(...z);
      const e = z.map((v) => Math.exp(v - max));
      const sum = e.reduce((s, v) => s + v, 0);
      e.forEach((v, k) => assert.ok(Math.abs(served[i][k] - v / sum) < 1e-5, `image ${i} class ${k}: served ${served[i][k]}, trainer ${v / sum}`));
    });
    await session.release();
    objective.dispose();
    backbone.dispose();
  });

  it('--help explains every long-tail, stage-2 and objective option', async () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (s: string) => lines.push(s);
    try {
      assert.equal(await trainCommand(['--help']), 0);
    } finally {
      console.log = log;
    }
    const help = lines.join('\n');
    for (const flag of Object.keys(LONG_TAIL_OPTIONS)) assert.match(help, new RegExp(`--${flag}\\b`), `--${flag}`);
    assert.match(help, /--beta X\s+stage 2: class weights .* \(default 0\.99999\)/);
  });
});
