import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { InputSpec } from '../../src/artifact/manifest.js';
import { alignedFaces, checkLandmarks, type FaceFinder } from '../../src/infer/aligned-faces.js';
import { decodeImage } from '../../src/infer/preprocess.js';
import { solidPng } from './tiny-models.js';

const ARCFACE = [38.2946, 51.6963, 73.5318, 51.5014, 56.0252, 71.7366, 41.5493, 92.3655, 70.7299, 92.2041];
const finder: FaceFinder = { decode: (bytes) => decodeImage(bytes) };
const input: InputSpec = { tensor: 'x', layout: 'NCHW', height: 16, width: 16, channels: 3, color: 'rgb', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], resize: 'stretch' };

/** The template turned by th (radians) and scaled by s about its crop's centre (56, 56), then shifted by (tx, ty). */
function moved(s: number, th: number, tx: number, ty: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 10; i += 2) {
    const [x, y] = [ARCFACE[i] - 56, ARCFACE[i + 1] - 56];
    out.push(s * (Math.cos(th) * x - Math.sin(th) * y) + 56 + tx, s * (Math.sin(th) * x + Math.cos(th) * y) + 56 + ty);
  }
  return out;
}
const photo = { width: 400, height: 300 };
const bad = (points: number[], re: RegExp) => assert.throws(() => checkLandmarks(points, photo, 'face'), { code: 'BAD_LANDMARKS', message: re });

test('landmarks of a face at any scale, rotation and position are accepted', () => {
  for (const [s, th] of [[1, 0], [2.5, 0.4], [0.6, -1.2], [1.5, Math.PI]]) checkLandmarks(moved(s, th, 100, 80), photo, 'face');
  // A few pixels of detector noise.
  checkLandmarks(moved(2, 0, 50, 20).map((v, i) => v + (i % 3) - 1), photo, 'face');
});

test('landmarks that cannot be a face are BAD_LANDMARKS, saying why', () => {
  const ok = moved(2, 0, 50, 20);
  const swap = (p: number[], a: number, b: number) => {
    const q = [...p];
    [q[2 * a], q[2 * a + 1], q[2 * b], q[2 * b + 1]] = [p[2 * b], p[2 * b + 1], p[2 * a], p[2 * a + 1]];
    return q;
  };
  bad(ok.slice(0, 8), /expected five \[x, y\] points/);
  bad([...ok.slice(0, 9), NaN], /expected five/);
  bad(ok.map((v, i) => (i === 4 ? v + 500 : v)), /nose tip \(\S+, \S+\) is outside the 400x300 image/);
  bad(swap(ok, 0, 1), /do not form a face/);
  bad(swap(ok, 3, 4), /do not form a face/);
  bad(ok.map((v, i) => (i % 2 === 0 ? 300 - v : v)), /do not form a face/); // mirrored
  bad(moved(0.05, 0, 50, 20), /eyes are 1\.8 px apart/);
});

test('an aligned crop is used whole; a photo without landmarks is NO_FACE_FOUND', async () => {
  const [face] = await alignedFaces([{ bytes: await solidPng(20, 19, [10, 20, 30]) }], input, finder);
  assert.equal(face.tensor.length, 3 * 16 * 16);
  assert.deepEqual([face.tensor[0], face.tensor[256], face.tensor[512]], [10, 20, 30]);
  assert.deepEqual(face.box, { x: 0, y: 0, width: 20, height: 19 });
  await assert.rejects(alignedFaces([{ bytes: await solidPng(40, 20, 0) }], input, finder), { code: 'NO_FACE_FOUND', message: /image 0: it is 40x20, not an aligned 16x16 face crop/ });
});

test('each landmarked face of a photo is aligned onto the template: inside the photo, its pixels; outside, black', async () => {
  const input112: InputSpec = { ...input, height: 112, width: 112 };
  const plane = 112 * 112;
  const png = await solidPng(400, 300, [200, 100, 50]);
  const faces = await alignedFaces([{ bytes: png, landmarks: [moved(1, 0, 150, 100), moved(1, 0, 250, 100)] }, { bytes: png, landmarks: [moved(1.2, 0.1, 100, 100)] }], input112, finder);
  assert.deepEqual(faces.map((f) => [f.image, f.face]), [[0, 0], [0, 1], [1, 0]]);
  for (const f of faces) assert.ok(f.tensor.every((v, i) => v === [200, 100, 50][Math.floor(i / plane)]), 'all face pixels');
  // The crop is the template's 112 px square, here placed at (150, 100) at scale 1.
  assert.deepEqual(faces[0].box, { x: 150, y: 100, width: 112, height: 112 });
  // A face near the left edge: its square starts 30 px outside the photo, which reads as black.
  const [edge] = await alignedFaces([{ bytes: png, landmarks: [moved(1, 0, -30, 100)] }], input112, finder);
  const row = Array.from(edge.tensor.subarray(56 * 112, 57 * 112)); // red channel, middle row
  assert.deepEqual(row.slice(0, 29), Array(29).fill(0));
  assert.deepEqual(row.slice(31), Array(81).fill(200));
  // Sizes InsightFace has no template for are refused.
  await assert.rejects(alignedFaces([{ bytes: png, landmarks: [moved(1, 0, 150, 100)] }], input, finder), { code: 'ALIGNMENT_SIZE_UNSUPPORTED' });
});
