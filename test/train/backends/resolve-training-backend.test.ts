// How a training run picks its backend: forced names load exactly or fail with the reason; with no
// name the best loadable backend runs and the log line says why the better ones did not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import {
  TRAINING_BACKEND_NAMES,
  TrainingBackendError,
  resolveTrainingBackend,
} from '../../../src/train/backends/index.js';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const nodeInstalled = installed('@tensorflow/tfjs-node');
const nodeGpuInstalled = installed('@tensorflow/tfjs-node-gpu');

test('the backend names, best first', () => {
  assert.deepEqual([...TRAINING_BACKEND_NAMES], ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']);
});

test('an unknown name throws and lists the valid ones', async () => {
  await assert.rejects(resolveTrainingBackend({ backend: 'x', log: () => {} }), (error: unknown) => {
    assert.ok(error instanceof TrainingBackendError);
    assert.equal(error.code, 'UNSUPPORTED_BACKEND');
    assert.equal(error.message, 'Unsupported backend: "x". Should be one of: tfjs-node-gpu, tfjs-node, wasm, cpu');
    return true;
  });
});

test('--backend cpu runs cpu and says so', async () => {
  const lines: string[] = [];
  const resolved = await resolveTrainingBackend({ backend: 'cpu', log: (l) => lines.push(l) });
  assert.equal(resolved.name, 'cpu');
  assert.deepEqual(resolved.reasons, []);
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^training backend: cpu\b/);
  // Something computes on it.
  assert.deepEqual(Array.from(tf.tidy(() => tf.add(tf.tensor1d([1, 2]), 1)).dataSync()), [2, 3]);
});

test('--backend tfjs-node fails with the reason when it is not installed (no fallback)', { skip: nodeInstalled && '@tensorflow/tfjs-node is installed here' }, async () => {
  const before = tf.getBackend();
  await assert.rejects(resolveTrainingBackend({ backend: 'tfjs-node', log: () => {} }), (error: unknown) => {
    assert.ok(error instanceof TrainingBackendError);
    assert.equal(error.code, 'BACKEND_UNAVAILABLE');
    assert.match(error.message, /^Training backend "tfjs-node" cannot run here: Cannot find package '@tensorflow\/tfjs-node'/);
    assert.match(error.message, /npm install @tensorflow\/tfjs-node@4\.22\.0/);
    return true;
  });
  assert.equal(tf.getBackend(), before, 'a failed forced load must not switch backends');
});

test('with no name it runs wasm here, and says why tfjs-node-gpu and tfjs-node are out', { skip: (nodeInstalled || nodeGpuInstalled) && 'a tfjs-node package is installed here' }, async () => {
  const lines: string[] = [];
  const resolved = await resolveTrainingBackend({ log: (l) => lines.push(l) });
  assert.equal(resolved.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(resolved.reasons.map((r) => r.name), ['tfjs-node-gpu', 'tfjs-node']);
  assert.match(resolved.reasons[0].reason, /Cannot find package '@tensorflow\/tfjs-node-gpu'/);
  assert.match(resolved.reasons[1].reason, /Cannot find package '@tensorflow\/tfjs-node'/);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^training backend: wasm \(SIMD, 1 thread\); not available: tfjs-node-gpu: .*; tfjs-node: /);
  assert.equal(lines[0], resolved.line);

  // Again: same answer, cheap (no re-import of the missing packages, no re-initialization).
  const start = performance.now();
  const again = await resolveTrainingBackend({ log: () => {} });
  assert.ok(performance.now() - start < 50, 'second resolution should be cheap');
  assert.deepEqual(again, resolved);
});

test('switching back and forth between forced backends activates each', async () => {
  assert.equal((await resolveTrainingBackend({ backend: 'wasm', log: () => {} })).name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal((await resolveTrainingBackend({ backend: 'cpu', log: () => {} })).name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
});

test('--backend tfjs-node where it is installed: it runs, on TensorFlow\'s C library, and computes', { skip: !nodeInstalled && '@tensorflow/tfjs-node is not installed here' }, async () => {
  const lines: string[] = [];
  const resolved = await resolveTrainingBackend({ backend: 'tfjs-node', log: (l) => lines.push(l) });
  assert.equal(resolved.name, 'tfjs-node');
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.deepEqual(lines, ['training backend: tfjs-node (TensorFlow C library on CPU), chosen with --backend']);
  assert.deepEqual(Array.from(tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]))).dataSync()), [11]);
});

test('with no name where tfjs-node is installed (and no GPU package): tfjs-node runs, not wasm', { skip: (!nodeInstalled || nodeGpuInstalled) && 'needs @tensorflow/tfjs-node without -gpu' }, async () => {
  const resolved = await resolveTrainingBackend({ log: () => {} });
  assert.equal(resolved.name, 'tfjs-node');
  assert.deepEqual(resolved.reasons.map((r) => r.name), ['tfjs-node-gpu']);
});

/**
 * resolveTrainingBackend, once per name in turn ('' for none), in a child process where
 * @tensorflow/tfjs-node(-gpu) resolve to a stand-in addon.
 */
function withStandIn(backends: string[], gpu: boolean): Array<Record<string, unknown>> {
  const dir = new URL('./stand-in-tfjs-node/', import.meta.url).pathname;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', `${dir}register.mjs`, `${dir}resolve.ts`, ...backends], {
    encoding: 'utf8',
    env: { ...process.env, STAND_IN_GPU: gpu ? '1' : '0' },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

test('the native backends\' success path, against a stand-in addon that registers "tensorflow" as tfjs-node does', () => {
  const [forced, auto] = withStandIn(['tfjs-node', ''], false);
  // Forced: it loads, becomes the active tfjs backend, computes, and the line says so.
  assert.deepEqual(forced, {
    name: 'tfjs-node', line: 'training backend: tfjs-node (TensorFlow C library on CPU), chosen with --backend', active: 'tensorflow', sum: [2, 3], reasons: [],
  });
  // Unforced, with no GPU: tfjs-node-gpu is refused (it would compute on the CPU), tfjs-node runs before wasm.
  assert.deepEqual([auto.name, auto.active, auto.reasons], ['tfjs-node', 'tensorflow', ['tfjs-node-gpu']]);
  assert.match(String(auto.line), /not available: tfjs-node-gpu: @tensorflow\/tfjs-node-gpu loaded, but TensorFlow sees no GPU device/);
  // With a GPU, tfjs-node-gpu runs first.
  assert.deepEqual(withStandIn([''], true)[0].line, 'training backend: tfjs-node-gpu (TensorFlow C library on GPU)');
});
