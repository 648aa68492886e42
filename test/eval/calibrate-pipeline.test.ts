// Calibration records the pipeline of each impostor set, and keeps points of other pipelines.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { readManifest } from '../../src/artifact/read-artifact.js';
import { writeArtifact } from '../../src/artifact/write-artifact.js';
import { calibrate, servedPipelineNote } from '../../src/eval/calibrate.js';
import type { EvalRun } from '../../src/eval/report.js';
import type { IjbcVerificationResult } from '../../src/eval/ijbc.js';
import type { LfwResult } from '../../src/eval/lfw.js';
import { preprocessingKey, servedPipeline } from '../../src/infer/served-pipeline.js';
import { servedOperatingPoints } from '../../src/server/operating-point.js';
import { colorEmbedder, tempDir } from '../infer/tiny-models.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

/** n impostor scores i / n, ascending. */
const scores = (n: number) => Float64Array.from({ length: n }, (_, i) => i / n);

test('LFW points are image-pair points, IJB-C points template points; the server uses the no-flip LFW ones', async () => {
  const model = colorEmbedder();
  delete model.manifest.operatingPoints;
  const target = join(dir, 'emb');
  const written = await writeArtifact(target, { manifest: model.manifest, onnxBytes: model.bytes });
  const run: EvalRun = {
    date: '2026-02-03T00:00:00.000Z',
    data: '/data',
    notes: [],
    model: { name: 'color-embedder', version: '2', sha256: written.manifest.sha256, dir: target },
    lfw: { impostorScores: scores(3000) } as LfwResult,
    ijbc: { impostorScores: scores(20000), impostor: 20000 } as IjbcVerificationResult,
  };
  const points = await calibrate(run, target, { flip: false });
  assert.equal(points.length, 6);
  const manifest = await readManifest(target);
  const key = preprocessingKey(manifest);
  assert.deepEqual(
    manifest.operatingPoints?.map((p) => [p.far, p.pipeline?.pairs, p.pipeline?.flip, p.pipeline?.preprocessing === key]),
    [[1e-5, 'image', false, true], [1e-5, 'template', false, true], [1e-4, 'image', false, true], [1e-4, 'template', false, true], [1e-3, 'image', false, true], [1e-3, 'template', false, true]],
  );
  // LFW FAR 1e-3 of 3000 impostors: k = 3 -> the third largest, 2997/3000.
  assert.deepEqual(servedOperatingPoints(manifest).map((p) => [p.far, p.threshold]), [[1e-5, 2999 / 3000], [1e-4, 2999 / 3000], [1e-3, 2997 / 3000]]);
  assert.equal(servedPipelineNote(points, manifest), undefined);

  // A later flip-test LFW run adds its own points and keeps the others.
  const flipped = await calibrate({ ...run, ijbc: undefined }, target, { flip: true });
  const after = await readManifest(target);
  assert.equal(after.operatingPoints?.length, 9);
  assert.deepEqual(servedOperatingPoints(after), servedOperatingPoints(manifest));
  assert.match(servedPipelineNote(flipped, after) ?? '', /image pairs, flip test.*will not use them.*--no-flip --calibrate/);
  assert.deepEqual(servedPipeline(after), { pairs: 'image', flip: false, preprocessing: key });
});
