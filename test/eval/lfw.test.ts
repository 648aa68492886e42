import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { writeLfw } from '../../scripts/fixtures/make-face-benchmarks.js';
import { FeatureFiles } from '../../src/eval/feature-source.js';
import { arange, evaluateLfwDistances, interpSlinear, kFoldRanges, parseLfwPairs, runLfw } from '../../src/eval/lfw.js';

const dir = await mkdtemp(join(tmpdir(), 'protoserve-lfw-'));
after(() => rm(dir, { recursive: true, force: true }));

const close = (actual: number, expected: number, tol = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} is not ${expected} (+-${tol})`);

test('pairs.txt: 3 fields = same person, 4 fields = two people, name/name_%04d.jpg', () => {
  const list = parseLfwPairs('2\t1\nAbel\t1\t12\nAbel\t1\tZoe_Ball\t3\nBob\t2\t3\nCy\t1\tDee\t1\n');
  assert.equal(list.folds, 2);
  assert.deepEqual(list.pairs[0], { a: 'Abel/Abel_0001.jpg', b: 'Abel/Abel_0012.jpg', same: true });
  assert.deepEqual(list.pairs[1], { a: 'Abel/Abel_0001.jpg', b: 'Zoe_Ball/Zoe_Ball_0003.jpg', same: false });
  assert.throws(() => parseLfwPairs('10\t300\nAbel\t1\n'), { code: 'DATASET_FORMAT' });
});

test('folds are contiguous KFold blocks and thresholds are np.arange values', () => {
  assert.deepEqual(kFoldRanges(6000, 10)[3], [1800, 2400]);
  assert.deepEqual(kFoldRanges(12, 5), [[0, 3], [3, 6], [6, 8], [8, 10], [10, 12]]);
  const t = arange(0, 4, 0.01);
  assert.equal(t.length, 400);
  assert.equal(t[51], 51 * 0.01);
  assert.equal(arange(0, 4, 0.001).length, 4000);
});

test("interp1d(kind='slinear') with repeated x takes the last repeat below the target", () => {
  // x = far_train, y = thresholds
  const x = Float64Array.from([0, 0, 0, 0.5, 0.5, 1]);
  const y = Float64Array.from([0, 1, 2, 3, 4, 5]);
  close(interpSlinear(x, y, 0.25), 2.5); // between (0, 2) and (0.5, 3)
  close(interpSlinear(x, y, 0.75), 4.5); // between (0.5, 4) and (1, 5)
  close(interpSlinear(x, y, 0), 2); // exactly the last 0
  close(interpSlinear(Float64Array.from([0, 1, 1]), Float64Array.from([0, 1, 2]), 1), 0); // de Boor's empty interval
});

test('the LFW fixture gives the hand-worked accuracy and VAL@FAR', async () => {
  // Distances (fixture): same 0.2055, different 1.9555; hard positive 2.5055 in fold 0, hard
  // negative 0.4555 in fold 1.
  // Accuracy: every fold's training folds are best separated first at t = 0.21, so fold 0
  // misses its hard positive (5/6) and every other fold is right (fold 1's hard negative is
  // above 0.21): accuracies [5/6, 1 x 9] -> mean 59/60, std sqrt((81 + 9) / 3600 / 10) = 0.05.
  // VAL@FAR=1e-3: folds 0, 2..9 train on 26 impostors at 1.9555 and one at 0.4555: FAR is 0 up to
  // t = 0.455, 1/27 from 0.456, so the interpolated threshold is 0.455 + 0.001 * 0.027; VAL is
  // 2/3 in fold 0 (hard positive), 1 elsewhere, FAR 0. Fold 1 trains on 27 impostors at 1.9555:
  // threshold 1.955 + 0.001 * 0.001, VAL 1, FAR 1/3 (its hard negative is accepted).
  await writeLfw(join(dir, 'lfw'), join(dir, 'features'), { images: false });
  const result = await runLfw(join(dir, 'lfw'), new FeatureFiles(join(dir, 'features')));
  assert.equal(result.pairs, 60);
  assert.deepEqual(result.folds.map((f) => f.threshold), Array(10).fill(0.21));
  assert.deepEqual(result.folds.map((f) => f.accuracy), [5 / 6, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  close(result.accuracy.mean, 59 / 60, 1e-12);
  close(result.accuracy.std, 0.05, 1e-12);
  close(result.folds[0].valThreshold, 0.455 + 0.001 * 0.027, 1e-12);
  close(result.folds[1].valThreshold, 1.955 + 0.001 * 0.001, 1e-12);
  assert.deepEqual(result.folds.map((f) => f.val), [2 / 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(result.folds.map((f) => f.far), [0, 1 / 3, 0, 0, 0, 0, 0, 0, 0, 0]);
  close(result.valAtFar.val, 29 / 30, 1e-12);
  close(result.valAtFar.valStd, 0.1, 1e-12);
  close(result.valAtFar.far, 1 / 30, 1e-12);
});

/** Straight from verification.py's text: loops over thresholds, no shared code with lfw.ts. */
function bruteLfw(dist: number[], same: boolean[], folds: number) {
  const n = dist.length;
  const size = n / folds;
  const acc = (t: number, idx: number[]) => idx.filter((i) => (dist[i] < t) === same[i]).length / idx.length;
  const accs: number[] = [];
  for (let f = 0; f < folds; f++) {
    const test = Array.from({ length: size }, (_, j) => f * size + j);
    const train = Array.from({ length: n }, (_, i) => i).filter((i) => i < f * size || i >= (f + 1) * size);
    let bestT = 0;
    let best = -1;
    for (let k = 0; k < 400; k++) {
      const a = acc(k * 0.01, train);
      if (a > best) {
        best = a;
        bestT = k * 0.01;
      }
    }
    accs.push(acc(bestT, test));
  }
  const mean = accs.reduce((s, a) => s + a, 0) / folds;
  return { accs, mean };
}

test('fold accuracies equal a brute-force reading of verification.py on random distances', () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let trial = 0; trial < 5; trial++) {
    const n = 200;
    const same = Array.from({ length: n }, (_, i) => i % 2 === 0);
    const dist = same.map((s) => Math.min(3.99, Math.max(0, (s ? 0.8 : 1.6) + (rand() - 0.5) * 1.6)));
    const ours = evaluateLfwDistances(Float64Array.from(dist), same, 10);
    const brute = bruteLfw(dist, same, 10);
    assert.deepEqual(ours.folds.map((f) => f.accuracy), brute.accs);
    close(ours.accuracy.mean, brute.mean, 1e-12);
  }
});
