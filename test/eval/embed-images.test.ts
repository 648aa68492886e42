// The evaluator's image pipeline on its own: worker failures end the run, bad images follow the
// --on-bad-image policy, the cache follows the image's content, alignment follows the model's size.
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import sharp from 'sharp';

import { readArtifact } from '../../src/artifact/read-artifact.js';
import { writeArtifact } from '../../src/artifact/write-artifact.js';
import { AlignPool } from '../../src/eval/align-pool.js';
import { ImageEmbedder, type ImageEmbedderOptions } from '../../src/eval/embed-images.js';
import type { ImageRequest } from '../../src/eval/feature-source.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { REFERENCE_DIR, readReference } from '../fixtures/reference.js';
import { colorEmbedder, tempDir } from '../infer/tiny-models.js';

/** A worker that exits as soon as it is given a task (as tsx's start-up path can). */
const exitingWorker = () => new Worker(`require('node:worker_threads').parentPort.on('message', () => process.exit(7));`, { eval: true });

describe('align worker failures', () => {
  test('a worker that exits fails its pending task and every later one with the exit code', { timeout: 20000 }, async () => {
    const pool = new AlignPool(1, exitingWorker);
    try {
      const task = { path: 'x.jpg', bytes: new Uint8Array(4), width: 112, height: 112 };
      const first = await pool.run(task);
      assert.equal(first.ok, false);
      assert.match((first as { poolFailure: string }).poolFailure, /exited with code 7/);
      const later = await pool.run(task);
      assert.match((later as { poolFailure: string }).poolFailure, /exited with code 7/);
    } finally {
      await pool.close();
    }
  });

  test('a worker that dies at start-up does not leave the run waiting either', { timeout: 20000 }, async () => {
    const pool = new AlignPool(2, () => new Worker('process.exit(3)', { eval: true }));
    try {
      await new Promise((r) => setTimeout(r, 200)); // both have exited by now
      const r = await pool.run({ path: 'x.jpg', bytes: new Uint8Array(4), width: 112, height: 112 });
      assert.match((r as { poolFailure: string }).poolFailure, /exited with code 3/);
    } finally {
      await pool.close();
    }
  });
});

describe('ImageEmbedder', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let session: ModelSession;
  let session96: ModelSession;
  let data: string;
  const images = ['a/one.png', 'a/two.png', 'b/three.png'];
  const colours: Array<[number, number, number]> = [[200, 30, 40], [10, 220, 90], [128, 128, 250]];

  before(async () => {
    tmp = await tempDir('protoserve-embed-');
    for (const [name, m] of [['raw', colorEmbedder({ normalize: false, name: 'raw' })], ['raw96', colorEmbedder({ normalize: false, name: 'raw96', size: 112, width: 96 })]] as const) {
      await writeArtifact(join(tmp.dir, 'models', name), { manifest: m.manifest, onnxBytes: m.bytes });
    }
    session = await ModelSession.create(await readArtifact(join(tmp.dir, 'models', 'raw')), { device: 'cpu' });
    session96 = await ModelSession.create(await readArtifact(join(tmp.dir, 'models', 'raw96')), { device: 'cpu' });
    data = join(tmp.dir, 'data');
    for (let i = 0; i < images.length; i++) {
      await mkdir(join(data, images[i], '..'), { recursive: true });
      await sharp(Buffer.alloc(112 * 112 * 3, Buffer.from(colours[i])), { raw: { width: 112, height: 112, channels: 3 } }).png().toFile(join(data, images[i]));
    }
  });
  after(async () => {
    await session.release();
    await session96.release();
    await tmp.cleanup();
  });

  const embedder = (extra: Partial<ImageEmbedderOptions> = {}) =>
    new ImageEmbedder({ dataDir: data, session, modelSha256: session.manifest.sha256, workers: 1, batchSize: 4, warn: () => {}, ...extra });
  const requests = (names = images): ImageRequest[] => names.map((image) => ({ image, feature: image }));
  /** colorEmbedder's flip sum of a solid colour: 2 x (c - 127.5) / 127.5 per channel. */
  const expected = (rgb: number[]) => rgb.map((c) => (2 * (c - 127.5)) / 127.5);

  test('a worker that exits fails the run with ALIGN_WORKER_FAILED instead of waiting forever', { timeout: 30000 }, async () => {
    const e = embedder({ startWorker: exitingWorker });
    try {
      await assert.rejects(e.features(requests(), 'sum'), { code: 'ALIGN_WORKER_FAILED' });
    } finally {
      await e.close();
    }
  });

  test('the cache follows the content: an image replaced in place is computed again; a moved folder keeps its cache', async () => {
    const cacheDir = join(tmp.dir, 'cache-content');
    const run = async (dataDir: string) => {
      const e = embedder({ cacheDir, dataDir });
      try {
        const m = await e.features(requests(), 'sum');
        return { stats: { ...e.stats }, m };
      } finally {
        await e.close();
      }
    };
    assert.deepEqual([(await run(data)).stats.computed, (await run(data)).stats.cached], [3, 3]);
    // Replace b/three.png in place by another colour: same path, new content.
    const copy = join(tmp.dir, 'data-replaced');
    await cp(data, copy, { recursive: true });
    await sharp(Buffer.alloc(112 * 112 * 3, 60), { raw: { width: 112, height: 112, channels: 3 } }).png().toFile(join(copy, 'b/three.png'));
    const replaced = await run(copy);
    assert.deepEqual([replaced.stats.cached, replaced.stats.computed], [2, 1]);
    Array.from(replaced.m.data.subarray(6, 9)).forEach((v, k) => assert.ok(Math.abs(v - expected([60, 60, 60])[k]) < 1e-4, `${v}`));
    // The original folder moved elsewhere: every feature still comes from the cache.
    const moved = join(tmp.dir, 'data-moved');
    await cp(data, moved, { recursive: true });
    const fromMoved = await run(moved);
    assert.deepEqual([fromMoved.stats.cached, fromMoved.stats.computed], [3, 0]);
  });

  test('--on-bad-image fail: a missing or undecodable image fails the run, naming the image', async () => {
    const bad = join(tmp.dir, 'data-bad');
    await cp(data, bad, { recursive: true });
    await writeFile(join(bad, 'a/two.png'), 'not an image');
    const e = embedder({ dataDir: bad });
    try {
      await assert.rejects(e.features(requests(), 'sum'), { code: 'DATASET_IMAGE_UNREADABLE', details: { image: 'a/two.png' } });
      await assert.rejects(e.features(requests(['a/one.png', 'a/none.png']), 'sum'), { code: 'DATASET_IMAGE_MISSING', details: { image: 'a/none.png' } });
    } finally {
      await e.close();
    }
  });

  test('--on-bad-image skip: bad images are left out, marked missing and listed; the others are computed', async () => {
    const bad = join(tmp.dir, 'data-skip');
    await cp(data, bad, { recursive: true });
    await writeFile(join(bad, 'a/two.png'), 'not an image');
    const e = embedder({ dataDir: bad, onBadImage: 'skip' });
    try {
      const m = await e.features(requests([...images, 'gone.png']), 'sum');
      assert.deepEqual(Array.from(m.missing ?? []), [0, 1, 0, 1]);
      assert.deepEqual(e.skipped.map((s) => [s.image, s.code]).sort(), [['a/two.png', 'DATASET_IMAGE_UNREADABLE'], ['gone.png', 'DATASET_IMAGE_MISSING']]);
      Array.from(m.data.subarray(0, 3)).forEach((v, k) => assert.ok(Math.abs(v - expected(colours[0])[k]) < 1e-4, `${v}`));
    } finally {
      await e.close();
    }
  });

  test('a truncated JPEG is decoded as OpenCV imread decodes it, with a warning, not skipped', async () => {
    const dir = join(tmp.dir, 'data-truncated');
    await mkdir(dir, { recursive: true });
    await copyFile(join(REFERENCE_DIR, 'align', 'truncated.jpg'), join(dir, 't.jpg'));
    const e = new ImageEmbedder({ dataDir: dir, session, modelSha256: session.manifest.sha256, workers: 1, warn: () => {} });
    try {
      const m = await e.features([{ image: 't.jpg', feature: 't.jpg' }], 'sum');
      assert.equal(m.missing, undefined);
      assert.equal(e.warnings.length, 1);
      // The feature is colorEmbedder's of imread's pixels, resized to 112x112 (no landmarks).
      const imread = await sharp(join(REFERENCE_DIR, 'align', 'truncated-imread.png')).resize(112, 112, { fit: 'fill' }).raw().toBuffer();
      const mean = [0, 1, 2].map((c) => {
        let s = 0;
        for (let p = 0; p < 112 * 112; p++) s += (imread[p * 3 + c] - 127.5) / 127.5;
        return (2 * s) / (112 * 112);
      });
      Array.from(m.data).forEach((v, k) => assert.ok(Math.abs(v - mean[k]) < 1e-4, `${v} vs ${mean[k]}`));
    } finally {
      await e.close();
    }
  });

  test("from images: the feature of a face with landmarks is that of OpenCV's aligned crop (reference fixture) and its mirror", async () => {
    const ref = readReference<{ landmarks: number[] }>('align/expected.json');
    const dir = join(tmp.dir, 'data-align112');
    await mkdir(dir, { recursive: true });
    await copyFile(join(REFERENCE_DIR, 'align', 'source.png'), join(dir, 's.png'));
    const e = new ImageEmbedder({ dataDir: dir, session, modelSha256: session.manifest.sha256, workers: 1, warn: () => {} });
    try {
      const m = await e.features([{ image: 's.png', feature: 's.png', landmarks: ref.landmarks }], 'sum');
      // colorEmbedder: per-channel mean of (p - 127.5) / 127.5, the same for the mirror: twice it.
      const cv = await sharp(join(REFERENCE_DIR, 'align', 'aligned-112x112.png')).raw().toBuffer();
      const mean = [0, 1, 2].map((c) => {
        let s = 0;
        for (let p = 0; p < 112 * 112; p++) s += (cv[p * 3 + c] - 127.5) / 127.5;
        return (2 * s) / (112 * 112);
      });
      Array.from(m.data).forEach((v, k) => assert.ok(Math.abs(v - mean[k]) < 1e-4, `channel ${k}: ${v} vs ${mean[k]}`));
    } finally {
      await e.close();
    }
  });

  test("a 112-high, 96-wide model gets faces aligned onto face_preprocess.py's 112x96 template (OpenCV's crop), not a stretched square", async () => {
    const ref = readReference<{ landmarks: number[] }>('align/expected.json');
    const dir = join(tmp.dir, 'data-align');
    await mkdir(dir, { recursive: true });
    await copyFile(join(REFERENCE_DIR, 'align', 'source.png'), join(dir, 's.png'));
    const e = new ImageEmbedder({ dataDir: dir, session: session96, modelSha256: session96.manifest.sha256, workers: 1, warn: () => {} });
    try {
      const m = await e.features([{ image: 's.png', feature: 's.png', landmarks: ref.landmarks }], 'sum');
      const { data: cv, info } = await sharp(join(REFERENCE_DIR, 'align', 'aligned-112x96.png')).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [96, 112]);
      const mean = [0, 1, 2].map((c) => {
        let s = 0;
        for (let p = 0; p < 96 * 112; p++) s += (cv[p * 3 + c] - 127.5) / 127.5;
        return (2 * s) / (96 * 112); // the mirror has the same channel means
      });
      Array.from(m.data).forEach((v, k) => assert.ok(Math.abs(v - mean[k]) < 1e-4, `channel ${k}: ${v} vs ${mean[k]}`));
    } finally {
      await e.close();
    }
  });

  test('a model size no template covers is MODEL_NOT_EVALUABLE when a face must be aligned', async () => {
    const m = colorEmbedder({ normalize: false, name: 'raw100', size: 100 });
    await writeArtifact(join(tmp.dir, 'models', 'raw100'), { manifest: m.manifest, onnxBytes: m.bytes });
    const s100 = await ModelSession.create(await readArtifact(join(tmp.dir, 'models', 'raw100')), { device: 'cpu' });
    const e = new ImageEmbedder({ dataDir: data, session: s100, modelSha256: s100.manifest.sha256, workers: 1, warn: () => {} });
    try {
      assert.throws(() => e.checkAlignable(), { code: 'MODEL_NOT_EVALUABLE' });
      await assert.rejects(e.features([{ image: images[0], feature: images[0], landmarks: [38, 52, 74, 52, 56, 72, 42, 92, 71, 92] }], 'sum'), { code: 'MODEL_NOT_EVALUABLE' });
      // Without landmarks (an aligned image) it is resized as the manifest says: no alignment needed.
      assert.equal((await e.features(requests([images[0]]), 'sum')).dim, 3);
    } finally {
      await e.close();
      await s100.release();
      await rm(join(tmp.dir, 'models', 'raw100'), { recursive: true });
    }
  });
});
