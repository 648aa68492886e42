// Which threshold a verification or identification decides at (src/server/operating-point.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Request } from 'express';

import type { Manifest, OperatingPoint } from '../../src/artifact/manifest.js';
import { servedPipeline } from '../../src/infer/served-pipeline.js';
import { chooseOperatingPoint, servedOperatingPoints } from '../../src/server/operating-point.js';
import { colorEmbedder } from '../infer/tiny-models.js';

const base = { ...colorEmbedder().manifest, file: 'model.onnx', sha256: '0'.repeat(64) } as Manifest;
const served = servedPipeline(base);
const flipped = { ...served, flip: true };
const templates = { ...served, pairs: 'template' as const };
const withPoints = (points: OperatingPoint[]): Manifest => ({ ...base, operatingPoints: points });
const req = (query: Record<string, string>) => ({ query }) as unknown as Request;

const manifest = withPoints([
  { far: 1e-5, threshold: 0.8, pipeline: templates, source: 'ijbc' },
  { far: 1e-4, threshold: 0.7, pipeline: flipped, source: 'lfw flip' },
  { far: 1e-4, threshold: 0.45, pipeline: served, source: 'lfw no flip' },
  { far: 1e-3, threshold: 0.35, pipeline: served, source: 'lfw no flip' },
  { far: 1e-2, threshold: 0.2 },
]);

test('only points measured on the served pipeline decide; FAR 1e-4 by default', () => {
  assert.deepEqual(servedOperatingPoints(manifest).map((p) => p.threshold), [0.45, 0.35]);
  assert.deepEqual(chooseOperatingPoint(req({}), manifest), { source: 'calibration', far: 1e-4, threshold: 0.45, calibration: 'lfw no flip' });
  assert.deepEqual(chooseOperatingPoint(req({ far: '0.001' }), manifest), { source: 'calibration', far: 1e-3, threshold: 0.35, calibration: 'lfw no flip' });
  // Without 1e-4, the strictest served point.
  assert.equal(chooseOperatingPoint(req({}), withPoints([{ far: 1e-3, threshold: 0.3, pipeline: served }, { far: 1e-2, threshold: 0.1, pipeline: served }])).far, 1e-3);
});

test('threshold= decides at the given similarity; far= must be a served point; not both', () => {
  assert.deepEqual(chooseOperatingPoint(req({ threshold: '0.3' }), manifest), { source: 'request', far: null, threshold: 0.3 });
  assert.deepEqual(chooseOperatingPoint(req({ threshold: '-1' }), manifest).threshold, -1);
  assert.throws(() => chooseOperatingPoint(req({ threshold: '1.5' }), manifest), { code: 'INVALID_PARAMETER' });
  assert.throws(() => chooseOperatingPoint(req({ threshold: '' }), manifest), { code: 'INVALID_PARAMETER' });
  assert.throws(() => chooseOperatingPoint(req({ far: '0.00001' }), manifest), { code: 'INVALID_PARAMETER', message: /no operating point at FAR 0.00001; it has 0.0001, 0.001/ });
  assert.throws(() => chooseOperatingPoint(req({ far: '0.1', threshold: '0.2' }), manifest), { code: 'INVALID_PARAMETER', message: /not both/ });
});

test('a model calibrated only on other pipelines (or on none) decides nothing, and says so', () => {
  const other = withPoints([{ far: 1e-4, threshold: 0.7, pipeline: flipped }, { far: 1e-3, threshold: 0.5 }]);
  const choice = chooseOperatingPoint(req({}), other);
  assert.equal(choice.source, 'uncalibrated');
  assert.equal(choice.threshold, null);
  assert.match(choice.note ?? '', /no operating point measured on the served pipeline \(image pairs, no flip test, .*its 2 other operating points were measured on another pipeline/);
  assert.throws(() => chooseOperatingPoint(req({ far: '0.0001' }), other), { code: 'INVALID_PARAMETER', message: /eval lfw --no-flip --calibrate/ });
  assert.equal(chooseOperatingPoint(req({}), withPoints([])).source, 'uncalibrated');
  // Another preprocessing (the manifest's input changed after calibration) is another pipeline.
  const resized = { ...manifest, input: { ...manifest.input, resize: 'letterbox' as const } };
  assert.equal(chooseOperatingPoint(req({}), resized).source, 'uncalibrated');
});
