// The training loop: a run stopped and resumed from its checkpoint ends with exactly the weights
// (batch-norm statistics and optimizer state included) of the same run done in one go.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { buildClassifier } from '../../src/train/build-net.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import { evaluateAccuracy, train, type RunState } from '../../src/train/loop.js';
import { SoftmaxCrossEntropy } from '../../src/train/objectives/softmax-cross-entropy.js';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../../src/train/run-config.js';

describe('training loop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loop-'));
  const mnist = loadDataset('mnist');
  const config: RunConfig = { ...DEFAULT_RUN_CONFIG, width: 4, batchSize: 16, trainLimit: 96, testLimit: 32, epochs: 2, checkpointEvery: 0 };
  const quiet = () => {};
  let backend = '';

  before(async () => {
    backend = (await resolveTrainingBackend({ log: quiet })).name;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function run(path: string, maxSteps: number | undefined, resume: boolean): Promise<RunState> {
    const net = buildClassifier(config, mnist);
    const objective = new SoftmaxCrossEntropy(10);
    const { state } = await train({ config: { ...config, maxSteps }, dataset: mnist, net, objective, backend, checkpointPath: path, resume, log: quiet });
    net.dispose();
    return state;
  }

  it('resumes mid-epoch to exactly the weights of an uninterrupted run', async () => {
    const straight = join(dir, 'straight.ckpt');
    const stopped = join(dir, 'stopped.ckpt');
    await run(straight, undefined, false);
    const paused = await run(stopped, 4, false); // 4 of 6 steps of epoch 1
    assert.deepEqual([paused.epoch, paused.stepInEpoch, paused.globalStep], [0, 4, 4]);
    const resumed = await run(stopped, undefined, true);
    assert.deepEqual([resumed.epoch, resumed.stepInEpoch, resumed.globalStep], [2, 0, 12]);

    const a = readCheckpoint<RunState>(straight);
    const b = readCheckpoint<RunState>(stopped);
    assert.deepEqual(Object.keys(b.weights), Object.keys(a.weights));
    for (const name of Object.keys(a.weights)) assert.deepEqual(b.weights[name].values, a.weights[name].values, name);
    assert.ok(Object.keys(a.weights).some((n) => n.endsWith('running_mean')), 'batch-norm statistics are checkpointed');
    assert.deepEqual(Object.keys(b.optimizer), Object.keys(a.optimizer));
    assert.ok(Object.keys(a.optimizer).includes('0/m'), `slots keyed by variable position: ${Object.keys(a.optimizer).slice(0, 3)}`);
    for (const name of Object.keys(a.optimizer)) assert.deepEqual(b.optimizer[name].values, a.optimizer[name].values, name);
    assert.equal(b.state.history.at(-1)!.testAccuracy, a.state.history.at(-1)!.testAccuracy);
  });

  it('measures accuracy as the fraction of test images whose argmax is the label', () => {
    const net = buildClassifier(config, mnist);
    const accuracy = evaluateAccuracy(net, mnist, 50);
    net.dispose();
    assert.ok(accuracy >= 0 && accuracy <= 1);
    assert.equal(Math.round(accuracy * 50), accuracy * 50, 'a whole number of the 50 images');
  });
});
