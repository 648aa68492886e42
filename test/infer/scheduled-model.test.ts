// ScheduledModel on real onnxruntime sessions, on both executors: batched results equal the
// unbatched runs of a bare session, in order; encoded images run from shared input slots that
// are always given back; a bad input in a batch fails alone; states.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { listArtifacts } from '../../src/artifact/registry.js';
import type { LoadedArtifact } from '../../src/artifact/read-artifact.js';
import { defaultConfig, type SchedulerSettings } from '../../src/config/server-config.js';
import { DecodePool } from '../../src/infer/decode-pool.js';
import type { InferenceExecutor } from '../../src/infer/executor.js';
import { InlineExecutor } from '../../src/infer/inline-executor.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { ScheduledModel } from '../../src/infer/scheduled-model.js';
import { planSessions } from '../../src/infer/session-plan.js';
import { WorkerExecutor } from '../../src/infer/worker-executor.js';
import { LOOKUP_TABLE, lookupModel, meanIntensityClassifier, meanLogits, nanClassifier, solidPng, tempDir, writeModels } from './tiny-models.js';

const settings = (over: Partial<SchedulerSettings> = {}): SchedulerSettings => ({ ...defaultConfig().scheduler, ...over });

async function executor(kind: 'inline' | 'worker', artifact: LoadedArtifact, workers = 1): Promise<InferenceExecutor> {
  return kind === 'worker'
    ? WorkerExecutor.create({ manifest: artifact.manifest, modelPath: artifact.modelPath, bytes: artifact.bytes, device: 'cpu', workers, intraOpThreads: 1, nice: 0 })
    : new InlineExecutor(await ModelSession.create(artifact, { device: 'cpu' }));
}

/** The niceness of every thread of this process (Linux; the main thread first). */
function threadNiceness(): number[] {
  if (process.platform !== 'linux') return [];
  const tids = readdirSync('/proc/self/task').map(Number).sort((a, b) => a - b);
  // Field 19 of /proc/<pid>/task/<tid>/stat, counted after the command name's closing parenthesis.
  return tids.map((t) => Number(readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1].split(' ')[16]));
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
        const model = new ScheduledModel(artifact.manifest, settings({ batching: 'on', maxBatch: 8 }));
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

      test('encoded images are decoded into shared input slots and run from there; slots are reused, and freed on every failure', async () => {
        const artifact = artifacts.get('mean-logits')!;
        const model = new ScheduledModel(artifact.manifest, settings({ batching: 'on', maxBatch: 8 }));
        model.attach(await executor(kind, artifact, 2));
        await model.warmup();
        const decoders = new DecodePool({ concurrency: 2, maxQueued: 64 });
        try {
          const values = Array.from({ length: 24 }, (_, i) => (i * 53) % 256);
          const pngs = await Promise.all(values.map((v) => solidPng(30, 20, v)));
          let decodeMs = 0;
          // 24 requests of one image and one of a pair, at once.
          const singles = pngs.map((png) => model.runEncoded([png], decoders, { onDecoded: (ms) => (decodeMs += ms) }).then(([row]) => row));
          const pair = model.runEncoded([pngs[3], pngs[0]], decoders);
          const rows = await Promise.all(singles);
          rows.forEach((row, i) => meanLogits(values[i] / 255).forEach((l, j) => assert.ok(Math.abs(row[j] - l) < 1e-4, `request ${i}, logit ${j}`)));
          const [a, b] = await pair;
          assert.deepEqual([Array.from(a), Array.from(b)], [Array.from(rows[3]), Array.from(rows[0])]);
          assert.ok(decodeMs > 0);
          const { made, held } = model.inputStats();
          assert.equal(held, 0, 'every slot was given back');
          assert.ok(made <= 32, `at most one slot per image in flight: ${made}`);
          // Sequential requests reuse the same slots.
          for (const png of pngs.slice(0, 10)) await model.runEncoded([png], decoders);
          assert.equal(model.inputStats().made, made);
          // A bad image in a pair, a deadline already passed, and a model gone meanwhile: slots come back.
          await assert.rejects(model.runEncoded([pngs[0], Buffer.from('not an image')], decoders), { code: 'IMAGE_UNREADABLE' });
          await assert.rejects(model.runEncoded([pngs[0]], decoders, { signal: AbortSignal.abort(new Error('deadline')) }), /deadline/);
          assert.equal(model.inputStats().held, 0);
          const late = model.runEncoded([pngs[1]], decoders).catch((err: { code?: string }) => err.code);
          await model.unload();
          assert.equal(await late, 'MODEL_UNAVAILABLE');
          assert.equal(model.inputStats().held, 0);
        } finally {
          await model.unload();
          await decoders.close();
        }
      });

      test('an input that makes onnxruntime fail fails alone; its batch-mates get their rows', async () => {
        const artifact = artifacts.get('lookup')!;
        const ok = new ScheduledModel(artifact.manifest, settings({ batching: 'on', maxBatch: 4, maxDelayMs: 1000 }));
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

  test('workers auto starts one session per core (up to the cap) on CPU, each answering, on threads of lower priority', async () => {
    const artifact = artifacts.get('mean-logits')!;
    const niced = () => threadNiceness().filter((n) => n === 7).length;
    const before = niced();
    const ex = await WorkerExecutor.create({ manifest: artifact.manifest, modelPath: artifact.modelPath, bytes: artifact.bytes, device: 'cpu', workers: 0, intraOpThreads: 0, nice: 7 });
    try {
      assert.equal(ex.slots, planSessions({ workers: 0, intraOpThreads: 0 }, 'cpu').sessions);
      assert.equal(ex.provider, 'cpu');
      if (process.platform === 'linux') assert.ok(niced() - before >= ex.slots, `threads at niceness 7: ${niced()} (before: ${before}), sessions ${ex.slots}`);
      assert.equal(threadNiceness()[0], 0, 'the main thread keeps its priority');
      const rows = await Promise.all(Array.from({ length: ex.slots }, (_, i) => ex.run([grey(i)])));
      rows.forEach(([row], i) => meanLogits(i / 255).forEach((l, j) => assert.ok(Math.abs(row[j] - l) < 1e-4, `session ${i}, logit ${j}`)));
    } finally {
      await ex.release();
    }
  });

  test('batching: auto batches on a GPU provider but not on CPU; off, or a graph with a fixed batch of 1, never batches', async () => {
    const artifact = artifacts.get('mean-logits')!;
    const on = (batching: SchedulerSettings['batching'], provider: string, graphMax = Infinity) => {
      const model = new ScheduledModel(artifact.manifest, settings({ batching, maxBatch: 16 }));
      model.attach({ kind: 'inline', slots: 1, provider, maxBatch: graphMax } as InferenceExecutor);
      return model.maxBatch;
    };
    assert.deepEqual(
      [on('auto', 'cpu'), on('auto', 'cuda'), on('auto', 'webgpu'), on('on', 'cpu'), on('off', 'cuda'), on('on', 'cuda', 1), on('on', 'cpu', 4)],
      [1, 16, 16, 16, 1, 1, 4],
    );
    assert.equal(settings().batching, 'auto', 'the default');
  });
});
