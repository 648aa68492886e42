// The bundled default classifier (models/fashion-mnist-lt-bce3s, made by
// scripts/train-default-models.sh): BCE3S trained on Fashion-MNIST-LT (imbalance 100). Served as
// `npm start` serves it, it classifies real Fashion-MNIST test images sent as PNGs over HTTP as
// well as the trainer measured (its manifest's headline metrics), and far above chance.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { testImagePng } from '../../scripts/mnist-samples.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadDataset } from '../../src/train/data/datasets.js';

const MODEL = 'fashion-mnist-lt-bce3s';
// The first 500 test images (about 50 per class), one image at a time as the server sees them.
// The trainer's figure is on all 10k test images with flip-averaged logits; the server classifies
// one unflipped image, and 50 images per class give a standard error of about 2 points on the
// class average: the served accuracy must come within TOLERANCE of the recorded one. CHANCE_FLOOR
// (three times chance) catches a model that is served but scrambled whatever the manifest says.
const IMAGES = 500;
const TOLERANCE = 0.08;
const CHANCE_FLOOR = 0.3;

describe(`bundled default model models/${MODEL}`, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ modelsDir: 'models', port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {} });
    await server.ready;
  });
  after(async () => server?.close());

  it('is served with the headline long-tail metrics and the training counts in its manifest', async () => {
    const res = await request(server.url).get(`/v1/models/${MODEL}`);
    assert.equal(res.status, 200);
    const { provenance, labels, task } = res.body;
    assert.equal(task, 'classifier');
    assert.equal(labels[9], 'Ankle boot');
    assert.equal(provenance.objective, 'bce3s');
    assert.deepEqual(provenance.hyperparameters.longTail, { imbalance: 100, profile: 'exp', order: 'index' });
    assert.deepEqual(provenance.hyperparameters.trainingClassCounts, [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]);
    for (const key of ['class_averaged_accuracy', 'many_accuracy', 'medium_accuracy', 'few_accuracy']) {
      assert.ok(provenance.metrics[key] > 0 && provenance.metrics[key] <= 1, `${key} ${provenance.metrics[key]}`);
    }
    assert.equal(provenance.metrics.test_images, 10000);
  });

  it('classifies real Fashion-MNIST test images over HTTP as accurately as its manifest records', async () => {
    const recorded = (await request(server.url).get(`/v1/models/${MODEL}`)).body.provenance.metrics.class_averaged_accuracy as number;
    const fashion = loadDataset('fashion-mnist');
    const right = new Array<number>(10).fill(0);
    const total = new Array<number>(10).fill(0);
    for (let i = 0; i < IMAGES; i++) {
      const { png, label } = await testImagePng(fashion, i);
      const res = await request(server.url).post(`/v1/models/${MODEL}/classify?top_k=1`).attach('image', png, `${i}.png`);
      assert.equal(res.status, 200);
      const y = fashion.test.labels[i];
      total[y]++;
      if (res.body.predictions[0].label === label) right[y]++;
    }
    const perClass = right.map((r, c) => r / total[c]);
    const classAveraged = perClass.reduce((a, b) => a + b, 0) / 10;
    const detail = `class-averaged ${classAveraged.toFixed(3)} over HTTP, ${recorded.toFixed(3)} recorded; per class ${perClass.map((a) => a.toFixed(2)).join(' ')}`;
    assert.ok(classAveraged >= CHANCE_FLOOR, detail);
    assert.ok(Math.abs(classAveraged - recorded) <= TOLERANCE, detail);
  });
});
