import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Manifest, ManifestDraft } from '../../src/artifact/manifest.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { l2Normalize, softmax, topK } from '../../src/infer/postprocess.js';
import { preprocessImage, preprocessPixels } from '../../src/infer/preprocess.js';
import { colorEmbedder, colorEmbedding, meanIntensityClassifier, meanLogits, MEAN_LABELS, refSoftmax, solidPng } from './tiny-models.js';

function source(model: { bytes: Uint8Array; manifest: ManifestDraft }, patch: (m: Manifest) => void = () => {}) {
  const manifest: Manifest = structuredClone({ ...model.manifest, file: 'model.onnx', sha256: '0'.repeat(64) });
  patch(manifest);
  return { manifest, modelPath: '(memory)', bytes: model.bytes };
}

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}] ${actual[i]} vs ${expected[i]}`);
}

describe('postprocess helpers', () => {
  test('softmax, topK and l2Normalize against hand values', () => {
    close(softmax([0, 0]), [0.5, 0.5]);
    close(softmax([1000, 0]), [1, 0]); // stable for large logits
    assert.deepEqual(topK([0.1, 0.7, 0.2], ['a', 'b', 'c'], 2), [{ label: 'b', score: 0.7 }, { label: 'c', score: 0.2 }]);
    assert.equal(topK([0.1, 0.7, 0.2], ['a', 'b', 'c'], 10).length, 3);
    close(l2Normalize([3, 4]), [0.6, 0.8]);
    close(l2Normalize([0, 0]), [0, 0]);
  });
});

describe('ModelSession', () => {
  let probs: ModelSession;
  let logits: ModelSession;
  let embedder: ModelSession;
  let raw: ModelSession;
  before(async () => {
    [probs, logits, embedder, raw] = await Promise.all([
      ModelSession.create(source(meanIntensityClassifier()), { device: 'cpu' }),
      ModelSession.create(source(meanIntensityClassifier({ logits: true })), { device: 'cpu' }),
      ModelSession.create(source(colorEmbedder({ size: 8 })), { device: 'cpu' }),
      ModelSession.create(source(colorEmbedder({ size: 8, normalize: false })), { device: 'cpu' }),
    ]);
  });
  after(() => Promise.all([probs, logits, embedder, raw].map((s) => s?.release())));

  test('reports the provider it runs on', () => {
    assert.equal(probs.provider, 'cpu');
    assert.equal(probs.device, 'cpu');
  });

  test('classify: mean intensity -> softmax(A m + B), top-k in order, for probabilities and logits models', async () => {
    for (const v of [0, 60, 200, 255]) {
      const tensor = await preprocessImage(await solidPng(28, 28, v), probs.manifest.input);
      const want = refSoftmax(meanLogits(v / 255));
      const order = [0, 1, 2].sort((a, b) => want[b] - want[a]);
      for (const session of [probs, logits]) {
        const [preds] = await session.classify(tensor, 1, { topK: 3 });
        assert.deepEqual(preds.map((p) => p.label), order.map((i) => MEAN_LABELS[i]), `v=${v}`);
        close(preds.map((p) => p.score), order.map((i) => want[i]));
      }
      const [top1] = await probs.classify(tensor, 1, { topK: 1 });
      assert.equal(top1.length, 1);
    }
  });

  test('batches: n items in, n rows out, in order', async () => {
    const a = await preprocessImage(await solidPng(28, 28, 0), probs.manifest.input);
    const b = await preprocessImage(await solidPng(28, 28, 255), probs.manifest.input);
    const batch = new Float32Array(2 * probs.itemSize);
    batch.set(a, 0);
    batch.set(b, probs.itemSize);
    const rows = await logits.run(batch, 2);
    close(rows[0], meanLogits(0), 1e-4); // float32 sum of 784 terms
    close(rows[1], meanLogits(1), 1e-4);
    await assert.rejects(logits.run(batch, 3), { code: 'INPUT_INVALID' });
  });

  test('embed: unit vectors, normalized here when the graph does not', async () => {
    const images = [[255, 0, 100], [10, 200, 30]] as [number, number, number][];
    const pixels = images.map((rgb) => ({ data: new Uint8Array(8 * 8 * 3).map((_, i) => rgb[i % 3]), width: 8, height: 8, channels: 3 as const }));
    for (const session of [embedder, raw]) {
      const batch = new Float32Array(2 * session.itemSize);
      for (let i = 0; i < 2; i++) batch.set(await preprocessPixels(pixels[i], session.manifest.input), i * session.itemSize);
      const vectors = await session.embed(batch, 2);
      vectors.forEach((v, i) => close(v, colorEmbedding(images[i])));
    }
    // run() gives the graph's raw output
    const [rawRow] = await raw.run(new Float32Array(raw.itemSize).fill(0.5), 1);
    close(rawRow, [0.5, 0.5, 0.5]);
  });

  test('task helpers refuse the other task with WRONG_TASK', async () => {
    await assert.rejects(embedder.classify(new Float32Array(embedder.itemSize), 1), { code: 'WRONG_TASK', message: /is an embedder; classify needs a classifier/ });
    await assert.rejects(probs.embed(new Float32Array(probs.itemSize), 1), { code: 'WRONG_TASK' });
  });

  test('warmup runs one real inference and refuses a model whose output is not finite', async () => {
    await probs.warmup();
    await embedder.warmup();
    // std 0 turns the grey warm-up image into +Infinity inputs, and the softmax into NaN.
    const broken = await ModelSession.create(source(meanIntensityClassifier(), (m) => { m.input.std = [0]; }), { device: 'cpu' });
    await assert.rejects(broken.warmup(), { code: 'INFERENCE_FAILED', message: /warm-up output\[0\] is NaN/ });
    await broken.release();
  });

  test('a graph with a fixed batch of 1 is run item by item', async () => {
    const fixed = await ModelSession.create(source(colorEmbedder({ size: 8, batch: 1 })), { device: 'cpu' });
    try {
      assert.equal(fixed.maxBatch, 1);
      const batch = new Float32Array(3 * fixed.itemSize);
      for (let i = 0; i < 3; i++) batch.fill(i - 1, i * fixed.itemSize, (i + 1) * fixed.itemSize);
      const rows = await fixed.run(batch, 3);
      assert.equal(rows.length, 3);
      close(rows[2], [1, 1, 1].map((x) => x / Math.sqrt(3)));
    } finally {
      await fixed.release();
    }
  });

  test('a manifest that does not match the graph fails at load, saying what differs', async () => {
    const cases: [(m: Manifest) => void, RegExp][] = [
      [(m) => (m.input.tensor = 'data'), /manifest\.input\.tensor is "data" but the graph's inputs are "input\.1"/],
      [(m) => (m.output.tensor = 'fc1'), /graph's outputs are "embedding"/],
      [(m) => { m.input.height = 16; }, /height is 8 in the graph but 16 in the manifest/],
      [(m) => (m.output.dimension = 512), /3 values per item in the graph but manifest\.output\.dimension is 512/],
    ];
    for (const [patch, message] of cases) {
      await assert.rejects(ModelSession.create(source(colorEmbedder({ size: 8, batch: 1 }), patch), { device: 'cpu' }), { code: 'MODEL_MANIFEST_MISMATCH', message });
    }
  });
});
