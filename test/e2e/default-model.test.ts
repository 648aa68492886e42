// The bundled default model (models/mnist-resnet8, made by scripts/train-default-models.sh):
// served as `npm start` serves it, it names the right digit for real MNIST test images.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { testImagePng } from '../../scripts/mnist-samples.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadDataset } from '../../src/train/data/datasets.js';

describe('bundled default model models/mnist-resnet8', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ modelsDir: 'models', port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {} });
    await server.ready;
  });
  after(async () => server?.close());

  it('is listed with its manifest and is ready', async () => {
    const ready = await request(server.url).get('/v2/health/ready');
    assert.equal(ready.status, 200);
    const res = await request(server.url).get('/v1/models/mnist-resnet8');
    assert.equal(res.status, 200);
    assert.equal(res.body.task, 'classifier');
    assert.equal(res.body.provenance.dataset.startsWith('mnist'), true);
    assert.ok(res.body.provenance.metrics.test_accuracy >= 0.97, `recorded test accuracy ${res.body.provenance.metrics.test_accuracy}`);
    assert.equal(res.body.provenance.metrics.test_images, 10000);
  });

  it('names the right digit for the first 200 MNIST test images (>= 97%)', async () => {
    const mnist = loadDataset('mnist');
    let correct = 0;
    const n = 200;
    for (let i = 0; i < n; i++) {
      const { png, label } = await testImagePng(mnist, i);
      const res = await request(server.url).post('/v1/models/mnist-resnet8/classify?top_k=1').attach('image', png, `${i}.png`);
      assert.equal(res.status, 200);
      if (res.body.predictions[0].label === label) correct++;
    }
    assert.ok(correct / n >= 0.97, `${correct}/${n} correct`);
  });
});
