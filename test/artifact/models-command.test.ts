import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { modelsCommand } from '../../src/artifact/models-command.js';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { colorEmbedder, tempDir } from '../infer/tiny-models.js';

describe('protoserve models', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeFile(join(dir, 'face.onnx'), colorEmbedder().bytes);
  });
  after(() => cleanup());

  test('import writes an artifact for a model you bring; list checks it; broken folders fail the listing', async (t) => {
    const out = t.mock.method(console, 'log', () => {});
    const models = join(dir, 'models');
    assert.equal(await modelsCommand(['import', join(dir, 'face.onnx'), '--models', models, '--name', 'arcface', '--task', 'embedder', '--licence', 'MIT', '--mean', '127.5', '--std', '127.5', '--color', 'rgb']), 0);
    const artifact = await readArtifact(join(models, 'arcface'));
    assert.equal(artifact.manifest.input.tensor, 'input.1');
    assert.equal(artifact.manifest.input.height, 112);
    assert.equal(await modelsCommand(['--models', models]), 0);
    assert.ok(out.mock.calls.some((c) => /ok\s+arcface 1\s+embedder\s+112x112x3 rgb -> dim 3/.test(String(c.arguments[0]))));
    await mkdir(join(models, 'empty'));
    assert.equal(await modelsCommand(['--models', models]), 1);
    assert.ok(out.mock.calls.some((c) => /broken .*empty\s+MANIFEST_NOT_FOUND/.test(String(c.arguments[0]))));
  });

  test('import refuses missing required flags', async () => {
    await assert.rejects(modelsCommand(['import', join(dir, 'face.onnx'), '--task', 'embedder', '--licence', 'MIT']), { code: 'INVALID_ARGUMENT', details: { option: '--name' } });
    await assert.rejects(modelsCommand(['import', join(dir, 'face.onnx'), '--name', 'x', '--task', 'segmenter', '--licence', 'MIT']), { code: 'INVALID_ARGUMENT', details: { option: '--task' } });
  });
});
