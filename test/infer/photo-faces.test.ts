// Photo in, faces out, with the bundled models on the real sample photos (test/fixtures/faces:
// @vladmandic/face-api's demo photos). The expected face counts were written down by looking at
// each photo (test/fixtures/faces/README.md).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import sharp from 'sharp';

import { readArtifact } from '../../src/artifact/read-artifact.js';
import { FaceDetector, type FaceBox } from '../../src/infer/face-detection/face-detector.js';
import { ModelSession } from '../../src/infer/model-session.js';
import type { ScheduledModel } from '../../src/infer/scheduled-model.js';
import { ModelPool } from '../../src/server/model-pool.js';
import { detectPhotoFaces, embedPhotoFaces, type EmbeddedFace } from '../../src/infer/photo-faces.js';

const PHOTOS: Record<string, number> = { 'sample1.jpg': 3, 'sample2.jpg': 3, 'sample3.jpg': 3, 'sample4.jpg': 4, 'sample5.jpg': 5, 'sample6.jpg': 4 };

function iou(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? (w * h) / (a.width * a.height + b.width * b.height - w * h) : 0;
}

function scaled(b: FaceBox, s: number): FaceBox {
  return { x: b.x * s, y: b.y * s, width: b.width * s, height: b.height * s };
}

/** The index of the box in `boxes` overlapping `box` most, and by how much. */
function bestMatch(box: FaceBox, boxes: FaceBox[]): { index: number; iou: number } {
  return boxes.map((b, index) => ({ index, iou: iou(box, b) })).sort((a, b) => b.iou - a.iou)[0] ?? { index: -1, iou: 0 };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('photo -> faces with the bundled blazeface and mobileface', () => {
  // The models as the server runs them: through their schedulers.
  let pool: ModelPool;
  let detector: FaceDetector;
  let embedder: ScheduledModel;
  const photos = new Map<string, Buffer>();
  before(async () => {
    const sessions = await Promise.all(['blazeface', 'mobileface'].map(async (m) => ModelSession.create(await readArtifact(`models/${m}`), { device: 'cpu' })));
    pool = new ModelPool(sessions);
    await pool.warmup();
    detector = new FaceDetector(pool.get('blazeface')!.session);
    embedder = pool.get('mobileface')!.session;
    for (const name of Object.keys(PHOTOS)) photos.set(name, await readFile(join('test/fixtures/faces', name)));
  });
  after(() => pool?.release());

  test('the detector finds the faces a person sees in each sample photo, eyes and mouth inside each box', async () => {
    for (const [name, expected] of Object.entries(PHOTOS)) {
      const found = await detectPhotoFaces(photos.get(name)!, detector);
      assert.equal(found.faces.length, expected, `${name}: ${found.faces.length} faces, a person sees ${expected}`);
      assert.equal(found.width, 1024);
      for (const f of found.faces) {
        assert.ok(f.score >= 0.5 && f.score <= 1, `${name}: score ${f.score}`);
        const inside = (p: { x: number; y: number }) => p.x >= f.box.x && p.x <= f.box.x + f.box.width && p.y >= f.box.y && p.y <= f.box.y + f.box.height;
        for (const k of f.keypoints.filter((k) => !k.name.endsWith('ear'))) assert.ok(inside(k), `${name}: ${k.name} (${k.x}, ${k.y}) outside the box ${JSON.stringify(f.box)}`);
        const eye = (n: string) => f.keypoints.find((k) => k.name === n)!;
        assert.ok(eye('right_eye').x < eye('left_eye').x, `${name}: the subject's right eye is on the image's left`);
        assert.ok(f.box.width > 40 && f.box.width < 200, `${name}: box width ${f.box.width}`);
        assert.deepEqual([f.aligned.width, f.aligned.height, f.aligned.channels], [112, 112, 3]);
      }
      const areas = found.faces.map((f) => f.box.width * f.box.height);
      assert.deepEqual(areas, [...areas].sort((a, b) => b - a), 'largest first');
    }
  });

  test('boxes are stable across resizes of the same photo (IoU >= 0.8 once scaled back)', async () => {
    let worst = 1;
    for (const [name, expected] of Object.entries(PHOTOS)) {
      const base = await detectPhotoFaces(photos.get(name)!, detector);
      for (const width of [512, 800, 1536]) {
        const s = width / 1024;
        const resized = await detectPhotoFaces(await sharp(photos.get(name)!).resize(width).jpeg({ quality: 92 }).toBuffer(), detector);
        assert.equal(resized.faces.length, expected, `${name} at ${width} px: ${resized.faces.length} faces`);
        for (const f of base.faces) {
          const m = bestMatch(f.box, resized.faces.map((r) => scaled(r.box, 1 / s)));
          worst = Math.min(worst, m.iou);
          assert.ok(m.iou >= 0.8, `${name} at ${width} px: IoU ${m.iou.toFixed(3)} with the box at 1024 px`);
        }
      }
    }
    assert.ok(worst > 0.8, `worst IoU ${worst}`);
  });

  test('EXIF orientation is applied: boxes are in the upright photo\'s pixels', async () => {
    const name = 'sample1.jpg';
    const upright = await detectPhotoFaces(photos.get(name)!, detector);
    // Stored rotated a quarter turn anticlockwise, tagged "rotate 90 clockwise to view" (6).
    const stored = await sharp(photos.get(name)!).rotate(-90).withMetadata({ orientation: 6 }).jpeg({ quality: 92 }).toBuffer();
    const meta = await sharp(stored).metadata();
    assert.deepEqual([meta.width, meta.height, meta.orientation], [683, 1024, 6]);
    const found = await detectPhotoFaces(stored, detector);
    assert.deepEqual([found.width, found.height], [upright.width, upright.height]);
    assert.equal(found.faces.length, upright.faces.length);
    for (const f of upright.faces) assert.ok(bestMatch(f.box, found.faces.map((g) => g.box)).iou > 0.85);
  });

  test('the embedder: a face at two other scales is more similar than any two people; its mirror image too, on average', async () => {
    const scales: number[] = [];
    const mirrors: number[] = [];
    const different: number[] = [];
    for (const name of Object.keys(PHOTOS)) {
      const bytes = photos.get(name)!;
      const base = await embedPhotoFaces(bytes, detector, embedder);
      const match = (f: EmbeddedFace, faces: EmbeddedFace[], back: (b: FaceBox) => FaceBox): number => {
        const m = bestMatch(f.box, faces.map((g) => back(g.box)));
        assert.ok(m.iou > 0.5, `${name}: a face was not found again`);
        return cosine(f.embedding, faces[m.index].embedding);
      };
      const mirrored = await embedPhotoFaces(await sharp(bytes).flop().jpeg({ quality: 92 }).toBuffer(), detector, embedder);
      const resized = await Promise.all([768, 512].map(async (w) => ({ s: w / 1024, faces: (await embedPhotoFaces(await sharp(bytes).resize(w).jpeg({ quality: 92 }).toBuffer(), detector, embedder)).faces })));
      base.faces.forEach((f, i) => {
        assert.equal(f.embedding.length, 256);
        mirrors.push(match(f, mirrored.faces, (b) => ({ ...b, x: base.width - b.x - b.width })));
        for (const r of resized) scales.push(match(f, r.faces, (b) => scaled(b, 1 / r.s)));
        for (let j = i + 1; j < base.faces.length; j++) different.push(cosine(f.embedding, base.faces[j].embedding));
      });
    }
    assert.deepEqual([scales.length, mirrors.length, different.length], [44, 22, 31]);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const maxDifferent = Math.max(...different);
    // Measured on these fixtures: two scales 0.76 .. 0.998, mirror 0.44 .. 0.85 (mean 0.72: a
    // turned head mirrored is another pose), different people -0.15 .. 0.385 (mean 0.14).
    assert.ok(Math.min(...scales) > maxDifferent, `two scales: min ${Math.min(...scales).toFixed(3)} <= different people max ${maxDifferent.toFixed(3)}`);
    assert.ok(mean(mirrors) > maxDifferent, `mirror: mean ${mean(mirrors).toFixed(3)} <= different people max ${maxDifferent.toFixed(3)}`);
    assert.ok(Math.min(...mirrors) > mean(different) + 0.2, `mirror: min ${Math.min(...mirrors).toFixed(3)}, different people mean ${mean(different).toFixed(3)}`);
  });
});
