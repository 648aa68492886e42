// Native suite: `protoserve train` on tfjs-node. The resolver picks it when nothing better loads
// and says why tfjs-node-gpu did not; a CIFAR ResNet and MobileFaceNet train a few steps, stop,
// and resume from their checkpoints; a resumed run ends with the weights of an uninterrupted one;
// the run's summary records the backend, the workers and the rate.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import type { RunState } from '../../src/train/loop.js';
import { trainCommand } from '../../src/train/train-command.js';

const dir = mkdtempSync(join(tmpdir(), 'protoserve-native-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('choosing tfjs-node', () => {
  test('with no name it runs tfjs-node and says why tfjs-node-gpu is out', async () => {
    const lines: string[] = [];
    const resolved = await resolveTrainingBackend({ log: (l) => lines.push(l) });
    assert.equal(resolved.name, 'tfjs-node');
    assert.equal(tf.getBackend(), 'tensorflow');
    assert.deepEqual(resolved.reasons.map((r) => r.name), ['tfjs-node-gpu']);
    assert.match(resolved.reasons[0].reason, /Cannot find package '@tensorflow\/tfjs-node-gpu'/);
    assert.match(lines[0], /^training backend: tfjs-node \(TensorFlow C library on CPU\); not available: tfjs-node-gpu: /);
  });

  test('--backend tfjs-node loads it, and it computes', async () => {
    const resolved = await resolveTrainingBackend({ backend: 'tfjs-node', log: () => {} });
    assert.equal(resolved.description, 'tfjs-node (TensorFlow C library on CPU)');
    assert.deepEqual(Array.from(tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]))).dataSync()), [11]);
  });
});

function summary(run: string): { backend: string; workers: number; imagesPerSecond: number; complete: boolean; steps: number } {
  return JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
}

describe('protoserve train --backend tfjs-node', () => {
  const common = ['--backend', 'tfjs-node', '--train-limit', '96', '--test-limit', '32', '--batch-size', '16', '--epochs', '1'];

  for (const net of [['--net', 'resnet8', '--width', '8'], ['--net', 'mobilefacenet']]) {
    test(`${net[1]}: trains, stops after 2 steps, resumes to the end of the epoch, and records the run`, async () => {
      const run = join(dir, net[1]);
      assert.equal(await trainCommand([...common, ...net, '--out', run, '--max-steps', '2']), 0);
      const paused = summary(run);
      assert.deepEqual([paused.complete, paused.steps, paused.backend, paused.workers], [false, 2, 'tfjs-node', 1]);
      assert.ok(paused.imagesPerSecond > 0);
      assert.equal(await trainCommand(['--resume', '--out', run, '--backend', 'tfjs-node']), 0);
      const done = summary(run);
      assert.deepEqual([done.complete, done.steps], [true, 6]);
      const state = readCheckpoint<RunState>(join(run, 'checkpoint.ckpt')).state;
      assert.ok(Number.isFinite(state.history[0].loss), `loss ${state.history[0].loss}`);
    });
  }

  test('a run stopped and resumed ends with the weights of the same run done in one go', async () => {
    const args = [...common, '--net', 'resnet8', '--width', '4', '--optimizer', 'sgd', '--lr', '0.05'];
    const straight = join(dir, 'straight');
    const stopped = join(dir, 'stopped');
    assert.equal(await trainCommand([...args, '--out', straight]), 0);
    assert.equal(await trainCommand([...args, '--out', stopped, '--max-steps', '3']), 0);
    assert.equal(await trainCommand(['--resume', '--out', stopped, '--backend', 'tfjs-node']), 0);
    const a = readCheckpoint<RunState>(join(straight, 'checkpoint.ckpt'));
    const b = readCheckpoint<RunState>(join(stopped, 'checkpoint.ckpt'));
    assert.deepEqual(Object.keys(b.weights), Object.keys(a.weights));
    for (const name of Object.keys(a.weights)) assert.deepEqual(b.weights[name].values, a.weights[name].values, name);
    assert.equal(b.state.history[0].loss, a.state.history[0].loss);
  });
});
