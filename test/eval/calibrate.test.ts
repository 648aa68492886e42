import assert from 'node:assert/strict';
import { test } from 'node:test';

import { thresholdsAtFar } from '../../src/eval/calibrate.js';
import { evalCommand } from '../../src/eval/eval-command.js';
import { farRank } from '../../src/eval/numeric.js';
import { readReference } from '../fixtures/reference.js';

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

test("one rank rule, Python's math.ceil(n * far) (ijb_1n.py), on every reference case", () => {
  const { cases } = readReference<{ cases: Array<{ n: number; far: number; ceil: number }> }>('ceil-far.json');
  for (const c of cases) assert.equal(farRank(c.n, c.far), c.ceil, `ceil(${c.n} * ${c.far})`);
  // 300000 * 1e-5 is 3.0000000000000004 in float64: Python's ceil gives 4, not 3.
  assert.equal(cases.find((c) => c.n === 300000 && c.far === 1e-5)?.ceil, 4);
});

test('calibration ranks by that rule: FAR 1e-5 of 300,000 impostors is the 4th largest', () => {
  const n = 300000;
  const scores = Float64Array.from({ length: n }, (_, i) => i / n);
  const [p] = thresholdsAtFar(scores, [1e-5]);
  assert.equal(p.threshold, (n - 4) / n);
  assert.equal(p.measuredFar, 3 / n);
});

test('eval --help prints the usage on stdout', async () => {
  const out: string[] = [];
  assert.equal(await evalCommand(['--help'], { stdout: (t) => out.push(t), stderr: () => {} }), 0);
  assert.match(out.join(''), /Usage: protoserve eval <benchmark>/);
  assert.match(out.join(''), /--feature-suffix S {5}\(default _protoserve\.bin\)/);
});
