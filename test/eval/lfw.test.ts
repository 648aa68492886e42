import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { writeLfw } from '../../scripts/fixtures/make-face-benchmarks.js';
import { FeatureFiles } from '../../src/eval/feature-source.js';
import { arange, evaluateLfwDistances, interpSlinear, kFoldRanges, lfwDistances, parseLfwPairs, runLfw } from '../../src/eval/lfw.js';
import { assertClose, readReference } from '../fixtures/reference.js';

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

test("folds are scikit-learn KFold(shuffle=False) blocks; thresholds are np.arange values", () => {
  const kfold = readReference<{ cases: Array<{ n: number; k: number; testRanges: Array<[number, number]> }> }>('kfold.json');
  for (const c of kfold.cases) assert.deepEqual(kFoldRanges(c.n, c.k), c.testRanges, `n ${c.n}, k ${c.k}`);
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

interface LfwReference {
  dim: number;
  issame: boolean[];
  flipSum: number[];
  dist: number[];
  accuracy: number[];
  bestThresholds: number[];
  accMean: number;
  accStd: number;
  val: number;
  valStd: number;
  far: number;
  valThresholds: number[];
  vals: number[];
  fars: number[];
  tpr: number[];
  fpr: number[];
}

test("LFW equals InsightFace's verification.py on 600 reference pairs: distances, folds, accuracy, VAL@FAR", () => {
  const ref = readReference<LfwReference>('lfw-verification.json');
  const { dim } = ref;
  const n = ref.issame.length;
  // Pair k is images 2k and 2k+1 (verification.py's embeddings[0::2], [1::2]).
  const f1 = new Float64Array(n * dim);
  const f2 = new Float64Array(n * dim);
  for (let k = 0; k < n; k++) {
    f1.set(ref.flipSum.slice(2 * k * dim, (2 * k + 1) * dim), k * dim);
    f2.set(ref.flipSum.slice((2 * k + 1) * dim, (2 * k + 2) * dim), k * dim);
  }
  const dist = lfwDistances(f1, f2, dim);
  // sklearn's normalize sums squares with einsum, whose order NumPy does not document: an ulp or two.
  assertClose(dist, ref.dist, 1e-15, 'squared L2 distance');
  for (const d of [dist, Float64Array.from(ref.dist)]) {
    const r = evaluateLfwDistances(d, ref.issame, 10);
    assert.deepEqual(r.folds.map((f) => f.accuracy), ref.accuracy);
    assert.deepEqual(r.folds.map((f) => f.threshold), ref.bestThresholds);
    assert.equal(r.accuracy.mean, ref.accMean);
    assert.equal(r.accuracy.std, ref.accStd);
    assertClose(r.folds.map((f) => f.valThreshold), ref.valThresholds, 1e-12, 'VAL threshold');
    assert.deepEqual(r.folds.map((f) => f.val), ref.vals);
    assert.deepEqual(r.folds.map((f) => f.far), ref.fars);
    assert.equal(r.valAtFar.val, ref.val);
    assert.equal(r.valAtFar.valStd, ref.valStd);
    assert.equal(r.valAtFar.far, ref.far);
    assertClose(r.roc.tpr, ref.tpr, 1e-15, 'mean TPR');
    assertClose(r.roc.fpr, ref.fpr, 1e-15, 'mean FPR');
    assert.equal(r.excludedPairs, 0);
  }
});

test('pairs left out (a skipped image) leave the folds where they are and drop out of training and test', () => {
  const ref = readReference<LfwReference>('lfw-verification.json');
  const dist = Float64Array.from(ref.dist);
  const gone = new Set([5, 200, 201]); // fold 0 loses one pair, fold 3 two
  const excluded = Uint8Array.from(dist, (_, i) => (gone.has(i) ? 1 : 0));
  const r = evaluateLfwDistances(dist, ref.issame, 10, 1e-3, excluded);
  assert.equal(r.excludedPairs, 3);
  const right = (i: number, t: number) => (dist[i] < t) === ref.issame[i];
  for (const [fold, size] of [[0, 59], [1, 60], [3, 58]]) {
    const test = Array.from({ length: 60 }, (_, j) => fold * 60 + j).filter((i) => !gone.has(i));
    assert.equal(test.length, size);
    assert.equal(r.folds[fold].accuracy, test.filter((i) => right(i, r.folds[fold].threshold)).length / size, `fold ${fold}`);
    // The threshold is the first best on the 540 - (left-out) training pairs of the other folds.
    const train = Array.from({ length: 600 }, (_, i) => i).filter((i) => (i < fold * 60 || i >= fold * 60 + 60) && !gone.has(i));
    const acc = (t: number) => train.filter((i) => right(i, t)).length;
    const best = Array.from({ length: 400 }, (_, k) => (k * 0.01)).reduce((b, t) => (acc(t) > acc(b) ? t : b), 0);
    assert.ok(Math.abs(r.folds[fold].threshold - best) < 1e-12, `fold ${fold}: ${r.folds[fold].threshold} vs ${best}`);
  }
  assert.equal(r.impostorScores.length, ref.issame.filter((s, i) => !s && !gone.has(i)).length);
});
