// The walking skeleton end to end: `protoserve train` a tiny classifier on real MNIST for a few
// steps, `protoserve export` it, serve the artifact, and classify real MNIST test images over
// HTTP. The server's probabilities must equal the trainer's own forward pass on the same image:
// that checks decoding, preprocessing, the exported graph and the response in one go.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import request from 'supertest';
import { testImagePng } from '../../scripts/mnist-samples.js';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { exportCommand } from '../../src/export/export-command.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { createApp } from '../../src/server/app.js';
import { buildRunModels, inferenceNet } from '../../src/train/build-net.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { BatchMaker } from '../../src/train/data/batches.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import type { RunState } from '../../src/train/loop.js';
import { trainCommand } from '../../src/train/train-command.js';

describe('train -> export -> serve -> classify (real MNIST)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protoserve-e2e-'));
  const run = join(dir, 'run');
  const models = join(dir, 'models');
  const mnist = loadDataset('mnist');
  let session: ModelSession;
  let app: ReturnType<typeof createApp>;

  before(async () => {
    const trainArgs = ['--net', 'resnet8', '--width', '4', '--train-limit', '256', '--test-limit', '64', '--batch-size', '32', '--epochs', '1', '--out', run];
    assert.equal(await trainCommand([...trainArgs, '--max-steps', '3']), 0);
    // The run folder is not overwritten by accident, and a resume keeps the run's configuration.
    await assert.rejects(trainCommand(trainArgs), /checkpoint.ckpt exists: continue that run with --resume/);
    await assert.rejects(trainCommand(['--resume', '--out', run, '--width', '8']), /width 8 differs from the run's 4/);
    // Resume as the trainer says to: only --resume --out. It finishes the epoch (8 steps of 32)
    // from the checkpoint written at step 3, with the stored net, data and optimizer settings.
    assert.equal(await trainCommand(['--resume', '--out', run]), 0);
    assert.equal(await exportCommand(['--run', run, '--name', 'tiny-mnist', '--models', models]), 0);
    session = await ModelSession.create(await readArtifact(join(models, 'tiny-mnist')), { device: 'cpu' });
    app = createApp({ models: [session], quiet: true });
  });

  after(async () => {
    await session?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumed the run and recorded its provenance', async () => {
    const checkpoint = readCheckpoint<RunState>(join(run, 'checkpoint.ckpt'));
    assert.equal(checkpoint.state.globalStep, 8);
    assert.equal(checkpoint.state.history.length, 1);
    assert.equal(checkpoint.state.stage, 1, 'the only stage is done');
    // The run's summary and report say what trained it and how fast (the resumed invocation).
    for (const file of ['summary.json', 'report.json']) {
      const written = JSON.parse(readFileSync(join(run, file), 'utf8'));
      assert.equal(written.backend, checkpoint.state.backend, file);
      assert.equal(written.workers, 1, file);
      assert.ok(written.imagesPerSecond > 0 && Number.isFinite(written.imagesPerSecond), `${file}: imagesPerSecond ${written.imagesPerSecond}`);
    }
    const { manifest } = await readArtifact(join(models, 'tiny-mnist'));
    assert.equal(manifest.task, 'classifier');
    assert.deepEqual(manifest.labels, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(manifest.provenance.objective, 'softmax-ce');
    assert.equal(manifest.provenance.metrics?.steps, 8);
    assert.ok(manifest.provenance.parity!.relative <= 1e-4);
  });

  it('answers with the trainer\'s probabilities for real MNIST test images', async () => {
    await waitReady(app);
    const checkpoint = readCheckpoint<RunState>(join(run, 'checkpoint.ckpt'));
    const { backbone, objective } = buildRunModels(checkpoint.state.config, mnist);
    backbone.setWeights(checkpoint.weights);
    objective.setWeights(checkpoint.objective);
    const { net } = inferenceNet(backbone, objective.inferenceHead());
    const maker = new BatchMaker(mnist);
    for (const index of [0, 1, 2, 3, 4]) {
      const { png } = await testImagePng(mnist, index);
      const res = await request(app).post('/v1/models/tiny-mnist/classify?top_k=10').attach('image', png, 'digit.png');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.model, { name: 'tiny-mnist', version: '1.0.0' });
      assert.equal(res.body.predictions.length, 10);
      const served = new Map<string, number>(res.body.predictions.map((p: { label: string; score: number }) => [p.label, p.score]));
      const batch = maker.make(mnist.test, index, 1);
      const expected = tf.tidy(() => tf.softmax(net.apply(tf.tensor4d(batch.pixels, [1, 28, 28, 1]), false)).dataSync());
      for (let c = 0; c < 10; c++) {
        assert.ok(Math.abs(served.get(String(c))! - expected[c]) < 1e-4, `image ${index} class ${c}: ${served.get(String(c))} vs ${expected[c]}`);
      }
      const scores = res.body.predictions.map((p: { score: number }) => p.score);
      assert.deepEqual(scores, [...scores].sort((a: number, b: number) => b - a), 'sorted by score');
    }
    net.dispose();
    backbone.dispose();
    objective.dispose();
  });

  it('takes a raw image body as well as multipart', async () => {
    const { png } = await testImagePng(mnist, 0);
    const multipart = await request(app).post('/v1/models/tiny-mnist/classify').attach('image', png, 'x.png');
    const raw = await request(app).post('/v1/models/tiny-mnist/classify').set('Content-Type', 'image/png').send(png);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.body.predictions, multipart.body.predictions);
  });
});

async function waitReady(app: ReturnType<typeof createApp>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await request(app).get('/v2/health/ready')).status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server never became ready');
}
