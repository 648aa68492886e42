// Held-out verification sets for validation during training: InsightFace's .bin packs as Python 2
// and Python 3 pickled them (scripts/fixtures/make-verification-bin.py), an LFW-layout folder, and
// the metrics on them against values worked out by hand.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeImage } from '../../../src/train/data/decode-image.js';
import { loadVerificationSet } from '../../../src/train/data/verification-set.js';
import { scoreVerification, verificationMetrics } from '../../../src/train/evaluate-verification.js';

const DIR = new URL('./fixtures/faces/', import.meta.url).pathname;
const size = { height: 16, width: 16 };

describe('verification sets', () => {
  for (const file of ['pairs-py2.bin', 'pairs-py3.bin']) {
    it(`reads InsightFace's packed pairs (${file}): images 2k and 2k+1, decoded`, async () => {
      const set = await loadVerificationSet(join(DIR, file), size);
      assert.equal(set.name, file.replace('.bin', ''));
      assert.deepEqual(set.same, [true, false, true]);
      assert.deepEqual([Array.from(set.first), Array.from(set.second)], [[0, 2, 4], [1, 3, 5]]);
      const order = ['id00/0.jpg', 'id00/1.jpg', 'id00/0.jpg', 'id01/0.jpg', 'id02/0.jpg', 'id02/1.jpg'];
      for (const [i, p] of order.entries()) {
        const want = await decodeImage(join(DIR, 'faces', p), { ...size, channels: 3 });
        assert.deepEqual(set.images.subarray(i * 768, (i + 1) * 768), want, `image ${i} is ${p}`);
      }
    });
  }

  it('reads an LFW folder: pairs.txt and name/name_0001.jpg, each image decoded once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lfw-'));
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    cpSync(join(DIR, 'faces/id00/0.jpg'), join(dir, 'a/a_0001.jpg'));
    cpSync(join(DIR, 'faces/id00/1.jpg'), join(dir, 'a/a_0002.jpg'));
    cpSync(join(DIR, 'faces/id01/0.jpg'), join(dir, 'b/b_0001.jpg'));
    writeFileSync(join(dir, 'pairs.txt'), '2\t1\na\t1\t2\na\t1\tb\t1\na\t2\t1\nb\t1\ta\t2\n');
    const set = await loadVerificationSet(dir, size);
    assert.equal(set.count, 3);
    assert.equal(set.folds, 2);
    assert.deepEqual(set.same, [true, false, true, false]);
    assert.deepEqual([Array.from(set.first), Array.from(set.second)], [[0, 0, 1, 2], [1, 2, 0, 1]]);
    await assert.rejects(loadVerificationSet(join(dir, 'missing'), size), /--val takes an LFW folder \(pairs.txt \+ images\) or an InsightFace .bin/);
    writeFileSync(join(dir, 'bad.bin'), readFileSync(join(DIR, 'faces/id00/0.jpg')));
    await assert.rejects(loadVerificationSet(join(dir, 'bad.bin'), size));
    rmSync(dir, { recursive: true, force: true });
  });

  it('scores pairs with LFW\'s 10-fold accuracy and TAR at a FAR', () => {
    // Image i has the 2-d feature at angle angles[i]: the pairs' cosines are known.
    const angles = [0, 0.1, 1.5, 3.0, 0.2, 2.0];
    const features = Float32Array.from(angles.flatMap((a) => [Math.cos(a), Math.sin(a)]));
    // 10 folds of 2 pairs: same pairs at cosine cos(0.1), different pairs at cos(1.4) (all distinct images).
    const first: number[] = [];
    const second: number[] = [];
    const same: boolean[] = [];
    for (let f = 0; f < 10; f++) {
      first.push(0, 2), second.push(1, 3), same.push(true, false);
    }
    const perfect = scoreVerification(features, 2, { first: Int32Array.from(first), second: Int32Array.from(second), same, folds: 10 }, 0.1);
    assert.equal(perfect.accuracy, 1);
    assert.equal(perfect.tar, 1);
    // Genuine cosines cos(0.1), cos(1.0); impostor cos(0.2), cos(1.5): the ROC's points are
    // (FPR, TPR) = (0, 0), (0, 1/2), (1/2, 1/2), (1/2, 1), (1, 1). The point nearest FAR 0.2 has
    // FPR 0 (on that tie, the higher TPR): TAR 1/2. At FAR 0.5, TAR 1.
    const mixedSet = { first: Int32Array.from([0, 0, 2, 5]), second: Int32Array.from([1, 4, 3, 3]), same: [true, false, false, true], folds: 2 };
    const mixed = scoreVerification(features, 2, mixedSet, 0.2);
    assert.equal(mixed.tar, 0.5);
    assert.equal(scoreVerification(features, 2, mixedSet, 0.5).tar, 1);
    assert.deepEqual(Object.keys(verificationMetrics(mixed)), ['val_accuracy', 'val_accuracy_std', 'val_tar@far=0.2']);
  });
});
