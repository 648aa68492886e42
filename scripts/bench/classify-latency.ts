// Latency of one-image classification over HTTP, against the bare onnxruntime session.run of the
// same model measured in the same run (the baseline; machines here are noisy).
//
//   npx tsx scripts/bench/classify-latency.ts [--model mnist-resnet8] [--models models] [--requests 200]
//
// HTTP path: multipart upload of a real MNIST test PNG -> decode (sharp) -> preprocess -> run ->
// top-k JSON, through a real socket on 127.0.0.1. Baseline: session.run on an already
// preprocessed tensor. The ratio is what the server adds per request.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { startServer } from '../../src/server/server.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import { testImagePng } from '../mnist-samples.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mnist-resnet8' },
    models: { type: 'string', default: 'models' },
    requests: { type: 'string', default: '200' },
  },
});
const n = Number(values.requests);

function summary(ms: number[]): { p50: number; p95: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const artifact = await readArtifact(join(values.models, values.model));
const { input } = artifact.manifest;
const session = await ort.InferenceSession.create(artifact.modelPath, { executionProviders: ['cpu'] });
const tensor = new ort.Tensor('float32', new Float32Array(input.channels * input.height * input.width), [1, input.channels, input.height, input.width]);
const raw: number[] = [];
for (let i = 0; i < n + 10; i++) {
  const t0 = performance.now();
  await session.run({ [input.tensor]: tensor });
  if (i >= 10) raw.push(performance.now() - t0);
}
await session.release();

const mnist = loadDataset('mnist');
const images = await Promise.all(Array.from({ length: 20 }, (_, i) => testImagePng(mnist, i)));
const server = await startServer({ modelsDir: values.models, port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {} });
await server.ready;
const http: number[] = [];
let correct = 0;
for (let i = 0; i < n + 10; i++) {
  const { png, label } = images[i % images.length];
  const form = new FormData();
  form.append('image', new Blob([png], { type: 'image/png' }), 'digit.png');
  const t0 = performance.now();
  const res = await fetch(`${server.url}/v1/models/${values.model}/classify?top_k=1`, { method: 'POST', body: form });
  const body = (await res.json()) as { predictions: Array<{ label: string }> };
  if (i >= 10) {
    http.push(performance.now() - t0);
    if (body.predictions[0].label === label) correct++;
  }
}
await server.close();

const r = summary(raw);
const h = summary(http);
const fmt = (x: number) => x.toFixed(3).padStart(8);
console.log(`model ${values.model}, ${n} requests, one image each, cpu execution provider`);
console.log(`                           p50 ms   p95 ms  mean ms`);
console.log(`onnxruntime session.run  ${fmt(r.p50)} ${fmt(r.p95)} ${fmt(r.mean)}   (baseline)`);
console.log(`HTTP classify (multipart)${fmt(h.p50)} ${fmt(h.p95)} ${fmt(h.mean)}   ratio ${(h.p50 / r.p50).toFixed(1)}x at p50`);
console.log(`top-1 correct: ${correct}/${n}`);
