import assert from 'node:assert/strict';
import { test } from 'node:test';

import { thresholdsAtFar } from '../../src/eval/calibrate.js';
import { evalCommand } from '../../src/eval/eval-command.js';

test('thresholds at FAR: the ceil(FAR x n)-th largest impostor score; fewer than FAR x n lie above it', () => {
  // 20,000 impostor scores i / 20000, i = 0 .. 19999, ascending.
  const n = 20000;
  const scores = Float64Array.from({ length: n }, (_, i) => i / n);
  const [p3, p4, p5] = thresholdsAtFar(scores);
  // FAR 1e-3: k = 20 -> the 20th largest is (n - 20) / n; 19 scores lie above it.
  assert.deepEqual([p3.far, p3.threshold, p3.measuredFar, p3.underSampled], [1e-3, (n - 20) / n, 19 / n, false]);
  // FAR 1e-4: k = 2 -> (n - 2) / n, 1 above.
  assert.deepEqual([p4.threshold, p4.measuredFar], [(n - 2) / n, 1 / n]);
  // FAR 1e-5: 0.2 impostors: the highest score, flagged as under-sampled.
  assert.deepEqual([p5.threshold, p5.measuredFar, p5.underSampled], [(n - 1) / n, 0, true]);
});

test('eval --help prints the usage on stdout', async () => {
  const out: string[] = [];
  assert.equal(await evalCommand(['--help'], { stdout: (t) => out.push(t), stderr: () => {} }), 0);
  assert.match(out.join(''), /Usage: protoserve eval <benchmark>/);
  assert.match(out.join(''), /--feature-suffix S {5}\(default _protoserve\.bin\)/);
});
