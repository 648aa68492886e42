// `protoserve export --backbone`: an untrained face embedder as a servable artifact.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { exportCommand } from '../../src/export/export-command.js';
import { ModelSession } from '../../src/infer/model-session.js';

describe('protoserve export --backbone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'export-cmd-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes an embedder artifact with InsightFace preprocessing and a unit-norm output', async () => {
    assert.equal(await exportCommand(['--backbone', 'mobilefacenet', '--embedding-dim', '64', '--name', 'mfn', '--models', dir]), 0);
    const artifact = await readArtifact(join(dir, 'mfn'));
    const { manifest } = artifact;
    assert.equal(manifest.task, 'embedder');
    assert.equal(manifest.input.tensor, 'input.1');
    assert.deepEqual([manifest.input.height, manifest.input.width, manifest.input.channels], [112, 112, 3]);
    assert.deepEqual(manifest.input.mean, [127.5, 127.5, 127.5]);
    assert.deepEqual(manifest.output, { tensor: 'embedding', kind: 'embedding', dimension: 64, normalized: true });
    assert.match(String(manifest.provenance.dataset), /untrained/);
    const session = await ModelSession.create(artifact, { device: 'cpu' });
    const batch = Float32Array.from({ length: 2 * 3 * 112 * 112 }, (_, i) => Math.sin(i));
    const rows = await session.run(batch, 2);
    await session.release();
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.length, 64);
      const norm = Math.hypot(...row);
      assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
    }
  });

  it('refuses backbones that are not face embedders, and --run with --backbone', async () => {
    await assert.rejects(exportCommand(['--backbone', 'resnet8', '--name', 'x', '--models', dir]), /Unsupported backbone: "resnet8"/);
    await assert.rejects(exportCommand(['--backbone', 'mobilefacenet', '--run', 'r', '--name', 'x']), /exclude each other/);
  });
});
