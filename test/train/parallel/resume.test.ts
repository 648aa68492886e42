// Resume with gradient accumulation, with data-parallel workers and with both: a run stopped and resumed
// from its checkpoint ends with exactly the weights, empirical prototypes (EPL, a buffer updated
// from the whole batch) and optimizer state of the same run done in one go.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { buildRunModels, classCounts } from '../../../src/train/build-net.js';
import { readCheckpoint, type Checkpoint } from '../../../src/train/checkpoint.js';
import { loadDataset } from '../../../src/train/data/datasets.js';
import { takeSplit } from '../../../src/train/data/image-dataset.js';
import { InMemorySource } from '../../../src/train/data/training-source.js';
import { train, type RunState } from '../../../src/train/loop.js';
import type { RunConfig } from '../../../src/train/run-config.js';
import { smallRunConfig } from './one-big-batch.js';

describe('resume with --accumulate and --workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parallel-resume-'));
  const mnist = loadDataset('mnist');
  let backend = '';
  before(async () => {
    backend = (await resolveTrainingBackend({ log: () => {} })).name;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function run(config: RunConfig, path: string, maxSteps: number | undefined, resume: boolean): Promise<RunState> {
    const c = { ...config, maxSteps };
    const { backbone, objective } = buildRunModels(c, mnist);
    const shape = { inputShape: [28, 28, 1] as [number, number, number], classCounts: classCounts(c, mnist) };
    const data = new InMemorySource(mnist, takeSplit(mnist.train, 48, 28 * 28));
    const { state } = await train({ config: c, data, net: backbone, objective, backend, checkpointPath: path, resume, log: () => {}, shape });
    objective.dispose();
    backbone.dispose();
    return state;
  }

  function assertSame(a: Checkpoint<RunState>, b: Checkpoint<RunState>): void {
    for (const group of ['weights', 'objective', 'optimizer'] as const) {
      assert.deepEqual(Object.keys(b[group]), Object.keys(a[group]), group);
      for (const name of Object.keys(a[group])) assert.deepEqual(b[group][name].values, a[group][name].values, `${group} ${name}`);
    }
  }

  for (const [flag, extra] of [
    ['accumulate 3', { accumulate: 3 }],
    ['workers 2', { workers: 2 }],
    ['workers 2 accumulate 2', { workers: 2, accumulate: 2 }],
  ] as const) {
    it(`${flag}: stopped after 3 of 8 steps and resumed, the run ends where the uninterrupted one does`, async () => {
      const config: RunConfig = { ...smallRunConfig('epl'), trainLimit: 48, ...extra };
      const straight = join(dir, `${flag}-straight.ckpt`);
      const stopped = join(dir, `${flag}-stopped.ckpt`);
      await run(config, straight, undefined, false);
      assert.equal((await run(config, stopped, 3, false)).globalStep, 3);
      assert.equal((await run(config, stopped, undefined, true)).globalStep, 8);
      const a = readCheckpoint<RunState>(straight);
      assert.ok(a.objective.empirical_prototypes, 'EPL keeps its buffer in the checkpoint');
      assertSame(a, readCheckpoint<RunState>(stopped));
    });
  }
});
