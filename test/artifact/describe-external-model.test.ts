import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { describeExternalModel, importExternalModel } from '../../src/artifact/describe-external-model.js';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { OnnxGraphBuilder } from '../../src/onnx/onnx-builder.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { imageToTensor } from '../../src/infer/preprocess.js';
import { colorEmbedder, colorEmbedding, meanIntensityClassifier, tempDir } from '../infer/tiny-models.js';

describe('describeExternalModel', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const path = (name: string) => join(dir, name);
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeFile(path('face.onnx'), colorEmbedder().bytes);
    await writeFile(path('face-raw.onnx'), colorEmbedder({ normalize: false }).bytes);
    await writeFile(path('probs.onnx'), meanIntensityClassifier().bytes);
    await writeFile(path('logits.onnx'), meanIntensityClassifier({ logits: true }).bytes);
    const g = new OnnxGraphBuilder('dynamic');
    g.addInput('data', ['n', 3, 'h', 'w']);
    g.op('Flatten', [g.op('GlobalAveragePool', ['data'])], { axis: 1 }, 'fc1');
    g.addOutput('fc1', ['n', 3]);
    await writeFile(path('dynamic.onnx'), g.toBytes());
  });
  after(() => cleanup());

  test('reads an InsightFace-style embedder: input.1, 112x112, NCHW, unit-length output', async () => {
    const { manifest, graph, notes } = await describeExternalModel({ onnxPath: path('face.onnx'), task: 'embedder', name: 'arcface-r50', licence: 'non-commercial research' });
    assert.deepEqual(manifest.input, {
      tensor: 'input.1', layout: 'NCHW', height: 112, width: 112, channels: 3, color: 'rgb',
      scale: 1, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5], resize: 'stretch',
    });
    assert.deepEqual(manifest.output, { tensor: 'embedding', kind: 'embedding', dimension: 3, normalized: true });
    assert.equal(manifest.provenance.imported, true);
    assert.equal(manifest.provenance.licence, 'non-commercial research');
    assert.equal(manifest.labels, undefined);
    assert.deepEqual(graph.inputs, [{ name: 'input.1', type: 'float32', shape: ['batch', 3, 112, 112] }]);
    assert.ok(notes.some((n) => n.includes('input.tensor "input.1"')));
    assert.ok(notes.some((n) => n.includes('input.color "rgb" assumed')));
  });

  test('measures that an output is not normalized', async () => {
    const { manifest } = await describeExternalModel({ onnxPath: path('face-raw.onnx'), task: 'embedder', name: 'raw', licence: 'MIT' });
    assert.equal(manifest.output.normalized, false);
  });

  test('refuses a declared size the graph contradicts, naming both', async () => {
    await assert.rejects(
      describeExternalModel({ onnxPath: path('face.onnx'), task: 'embedder', name: 'x', licence: 'MIT', input: { height: 128, width: 128 } }),
      { code: 'EXTERNAL_MODEL_INVALID', details: { field: 'input.height' } },
    );
    await assert.rejects(
      describeExternalModel({ onnxPath: path('face.onnx'), task: 'embedder', name: 'x', licence: 'MIT', input: { tensor: 'data' } }),
      { code: 'EXTERNAL_MODEL_INVALID', details: { field: 'input.tensor' } },
    );
    await assert.rejects(
      describeExternalModel({ onnxPath: path('face.onnx'), task: 'embedder', name: 'x', licence: 'MIT', input: { color: 'gray' } }),
      { code: 'EXTERNAL_MODEL_INVALID', details: { field: 'input.color' } },
    );
  });

  test('a dynamic input needs a declared size, then it is used', async () => {
    await assert.rejects(
      describeExternalModel({ onnxPath: path('dynamic.onnx'), task: 'embedder', name: 'd', licence: 'MIT' }),
      { code: 'EXTERNAL_MODEL_INVALID', details: { field: 'input.height' } },
    );
    const { manifest } = await describeExternalModel({ onnxPath: path('dynamic.onnx'), task: 'embedder', name: 'd', licence: 'MIT', input: { height: 64, width: 48, color: 'bgr', mean: 0, std: 1, scale: 1 / 255 } });
    assert.equal(manifest.input.tensor, 'data');
    assert.equal(manifest.input.height, 64);
    assert.equal(manifest.input.width, 48);
    assert.deepEqual(manifest.input.mean, [0, 0, 0]);
    assert.equal(manifest.output.tensor, 'fc1');
  });

  test('classifiers: probabilities vs logits inferred, labels checked against the output', async () => {
    const probs = await describeExternalModel({ onnxPath: path('probs.onnx'), task: 'classifier', name: 'p', licence: 'MIT', input: { scale: 1 / 255, mean: 0, std: 1 } });
    assert.equal(probs.manifest.output.kind, 'probabilities');
    assert.equal(probs.manifest.input.color, 'gray');
    assert.deepEqual(probs.manifest.labels, ['0', '1', '2']);
    const logits = await describeExternalModel({ onnxPath: path('logits.onnx'), task: 'classifier', name: 'l', licence: 'MIT', labels: ['dark', 'mid', 'bright'] });
    assert.equal(logits.manifest.output.kind, 'logits');
    await assert.rejects(
      describeExternalModel({ onnxPath: path('logits.onnx'), task: 'classifier', name: 'l', licence: 'MIT', labels: ['a', 'b'] }),
      { code: 'MANIFEST_INVALID', field: 'manifest.labels' },
    );
  });

  test('a licence is required; a missing file and a non-ONNX file are refused', async () => {
    await assert.rejects(describeExternalModel({ onnxPath: path('face.onnx'), task: 'embedder', name: 'x', licence: '' }), { code: 'MANIFEST_INVALID', field: 'manifest.provenance.licence' });
    await assert.rejects(describeExternalModel({ onnxPath: path('nope.onnx'), task: 'embedder', name: 'x', licence: 'MIT' }), { code: 'EXTERNAL_MODEL_NOT_FOUND' });
    await writeFile(path('junk.onnx'), 'not a model');
    await assert.rejects(describeExternalModel({ onnxPath: path('junk.onnx'), task: 'embedder', name: 'x', licence: 'MIT' }), { code: 'MODEL_UNLOADABLE' });
  });

  test('importExternalModel writes an artifact that loads and embeds as expected', async () => {
    const target = join(dir, 'models', 'arcface');
    const written = await importExternalModel(target, { onnxPath: path('face.onnx'), task: 'embedder', name: 'arcface', licence: 'MIT' });
    const artifact = await readArtifact(target);
    assert.equal(artifact.manifest.sha256, written.manifest.sha256);
    const session = await ModelSession.create(artifact, { device: 'cpu' });
    try {
      const pixels = { data: new Uint8Array(112 * 112 * 3).fill(0).map((_, i) => [255, 0, 100][i % 3]), width: 112, height: 112, channels: 3 as const };
      const [v] = await session.embed(imageToTensor(pixels, session.manifest.input), 1);
      const want = colorEmbedding([255, 0, 100]);
      v.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-5, `${x} vs ${want[i]}`));
    } finally {
      await session.release();
    }
  });
});
