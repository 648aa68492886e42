// ScheduledModel on real onnxruntime sessions, on both executors: batched results equal the
// unbatched runs of a bare session, in order; a bad input in a batch fails alone; states.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { listArtifacts } from '../../src/artifact/registry.js';
import type { LoadedArtifact } from '../../src/artifact/read-artifact.js';
import { defaultConfig, type SchedulerSettings } from '../../src/config/server-config.js';
import type { InferenceExecutor } from '../../src/infer/executor.js';
import { InlineExecutor } from '../../src/infer/inline-executor.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { ScheduledModel } from '../../src/infer/scheduled-model.js';
import { planSessions } from '../../src/infer/session-plan.js';
import { WorkerExecutor } from '../../src/infer/worker-executor.js';
import { LOOKUP_TABLE, lookupModel, meanIntensityClassifier, meanLogits, nanClassifier, tempDir, writeModels } from './tiny-models.js';

const settings = (over: Partial<SchedulerSettings> = {}): SchedulerSettings => ({ ...defaultConfig().scheduler, ...over });

async function executor(kind: 'inline' | 'worker', artifact: LoadedArtifact, workers = 1): Promise<InferenceExecutor> {
  return kind === 'worker'
    ? WorkerExecutor.create({ manifest: artifact.manifest, modelPath: artifact.modelPath, bytes: artifact.bytes, device: 'cpu', workers, intraOpThreads: 1 })
    : new InlineExecutor(await ModelSession.create(artifact, { device: 'cpu' }));
}

/** A 28x28 gray image of constant value v/255 as the mean classifier's input. */
const grey = (v: number) => new Float32Array(784).fill(v / 255);

describe('ScheduledModel', () => {
  let artifacts: Map<string, LoadedArtifact>;
  let cleanup: () => Promise<void>;
  before(async () => {
    const tmp = await tempDir();
    cleanup = tmp.cleanup;
    await writeModels(tmp.dir, [meanIntensityClassifier({ logits: true }), lookupModel(), nanClassifier()]);
    artifacts = new Map((await listArtifacts(tmp.dir)).artifacts.map((a) => [a.manifest.name, a]));
  });
  after(() => cleanup());

  for (const kind of ['inline', 'worker'] as const) {
    describe(`on the ${kind} executor`, () => {
      test('concurrent requests are batched; each gets what a bare unbatched session.run gives, in order', async () => {
        const artifact = artifacts.get('mean-logits')!;
        const bare = await ModelSession.create(artifact, { device: 'cpu' });
        const model = new ScheduledModel(artifact.manifest, settings({ maxBatch: 8 }));
        model.attach(await executor(kind, artifact, 2));
        await model.warmup();
        assert.equal(model.state, 'ready');
        try {
          const values = Array.from({ length: 40 }, (_, i) => (i * 37) % 256);
          // 40 requests of one image, and one request of 5 images, all at once.
          const singles = values.map((v) => model.run(grey(v), 1).then(([row]) => row));
          const five = new Float32Array(5 * 784);
          [250, 0, 128, 64, 192].forEach((v, i) => five.set(grey(v), i * 784));
          const batchOfFive = model.run(five, 5);
          const got = await Promise.all(singles);
          for (let i = 0; i < values.length; i++) {
            const [want] = await bare.run(grey(values[i]), 1);
            assert.deepEqual(Array.from(got[i]), Array.from(want), `request ${i}`);
            // And the hand-computed logits (a_j * mean + b_j).
            meanLogits(values[i] / 255).forEach((l, j) => assert.ok(Math.abs(got[i][j] - l) < 1e-4));
          }
          const rows = await batchOfFive;
          [250, 0, 128, 64, 192].forEach((v, i) => meanLogits(v / 255).forEach((l, j) => assert.ok(Math.abs(rows[i][j] - l) < 1e-4, `item ${i}`)));
          const stats = model.stats()!;
          assert.equal(stats.items, 1 + 40 + 5);
          assert.ok(stats.batches < stats.items, `batched: ${stats.items} items in ${stats.batches} runs`);
        } finally {
          await model.unload();
          await bare.release();
        }
      });

      test('an input that makes onnxruntime fail fails alone; its batch-mates get their rows', async () => {
        const artifact = artifacts.get('lookup')!;
        const ok = new ScheduledModel(artifact.manifest, settings({ maxBatch: 4, maxDelayMs: 1000 }));
        ok.attach(await executor(kind, artifact));
        await ok.warmup();
        assert.equal(ok.state, 'ready');
        try {
          // Four requests queued at once: one full batch of 4 (no delay), index 7 out of range.
          const results = [0, 1, 7, 2].map((p) => ok.run(Float32Array.of(p), 1).then(([row]) => Array.from(row), (err: Error & { code?: string }) => err.code));
          assert.deepEqual(await Promise.all(results), [LOOKUP_TABLE[0], LOOKUP_TABLE[1], 'INFERENCE_FAILED', LOOKUP_TABLE[2]]);
        } finally {
          await ok.unload();
        }
      });
    });
  }

  test('states: loading refuses with Retry-After, a NaN warm-up fails, unloaded refuses; each names its state', async () => {
    const artifact = artifacts.get('nan-model')!;
    const model = new ScheduledModel(artifact.manifest, settings());
    await assert.rejects(model.run(grey(1), 1), (err: { code?: string; state?: string; retryAfterS?: number }) => err.code === 'MODEL_UNAVAILABLE' && err.state === 'loading' && err.retryAfterS! > 0);
    model.attach(await executor('inline', artifact));
    await model.warmup();
    assert.equal(model.state, 'failed');
    assert.match(model.reason!, /warm-up output\[0\] is NaN/);
    await assert.rejects(model.run(grey(1), 1), (err: { code?: string; state?: string; message: string }) => err.code === 'MODEL_UNAVAILABLE' && err.state === 'failed' && /load retries it/.test(err.message));
    await model.unload();
    assert.equal(model.state, 'unloaded');
    await assert.rejects(model.run(grey(1), 1), { code: 'MODEL_UNAVAILABLE', state: 'unloaded' });
  });

  test('workers auto starts one session per core (up to the cap) on CPU, each answering', async () => {
    const artifact = artifacts.get('mean-logits')!;
    const ex = await WorkerExecutor.create({ manifest: artifact.manifest, modelPath: artifact.modelPath, bytes: artifact.bytes, device: 'cpu', workers: 0, intraOpThreads: 0 });
    try {
      assert.equal(ex.slots, planSessions({ workers: 0, intraOpThreads: 0 }, 'cpu').sessions);
      assert.equal(ex.provider, 'cpu');
      const rows = await Promise.all(Array.from({ length: ex.slots }, (_, i) => ex.run(grey(i), 1)));
      rows.forEach(([row], i) => meanLogits(i / 255).forEach((l, j) => assert.ok(Math.abs(row[j] - l) < 1e-4, `session ${i}, logit ${j}`)));
    } finally {
      await ex.release();
    }
  });

  test('batching is off where the settings say so, or where the graph has a fixed batch of 1', async () => {
    const artifact = artifacts.get('mean-logits')!;
    const off = new ScheduledModel(artifact.manifest, settings({ batching: false }));
    off.attach({ ...(await executor('inline', artifact)), maxBatch: Infinity } as InferenceExecutor);
    assert.equal(off.maxBatch, 1);
    const fixed = new ScheduledModel(artifact.manifest, settings({ maxBatch: 16 }));
    fixed.attach({ kind: 'inline', slots: 1, maxBatch: 1 } as InferenceExecutor);
    assert.equal(fixed.maxBatch, 1);
    const dynamic = new ScheduledModel(artifact.manifest, settings({ maxBatch: 16 }));
    dynamic.attach({ kind: 'inline', slots: 1, maxBatch: Infinity } as InferenceExecutor);
    assert.equal(dynamic.maxBatch, 16);
  });
});
