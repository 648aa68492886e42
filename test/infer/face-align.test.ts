import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import sharp from 'sharp';

import {
  ARCFACE_TEMPLATE_112,
  alignFace,
  alignmentTemplate,
  estimateSimilarity,
  flipHorizontal,
  invertAffine,
  landmarks68To5,
  warpAffine,
} from '../../src/infer/face-align.js';
import { REFERENCE_DIR, readReference } from '../fixtures/reference.js';

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} is not ${expected} (+-${tol})`);

function apply(m: ArrayLike<number>, pts: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < pts.length; i += 2) out.push(m[0] * pts[i] + m[1] * pts[i + 1] + m[2], m[3] * pts[i] + m[4] * pts[i + 1] + m[5]);
  return out;
}

test('the template is ArcFace\'s, held in float32 as the reference holds it', () => {
  const arcface = [38.2946, 51.6963, 73.5318, 51.5014, 56.0252, 71.7366, 41.5493, 92.3655, 70.7299, 92.2041];
  assert.equal(ARCFACE_TEMPLATE_112.length, 10);
  ARCFACE_TEMPLATE_112.forEach((v, i) => close(v, arcface[i], 1e-5, `template[${i}]`));
  assert.equal(ARCFACE_TEMPLATE_112[0], Math.fround(Math.fround(30.2946) + 8));
  assert.equal(ARCFACE_TEMPLATE_112[9], Math.fround(92.2041));
});

test('an exact similarity is recovered from its 5 points', () => {
  const t = Array.from(ARCFACE_TEMPLATE_112);
  const s = 1.7;
  const th = 0.3;
  const m = [s * Math.cos(th), -s * Math.sin(th), 12.5, s * Math.sin(th), s * Math.cos(th), -7.25];
  const est = estimateSimilarity(t, apply(m, t));
  est.forEach((v, i) => close(v, m[i], 1e-12, `m[${i}]`));
  // and the inverse maps the image points back onto the template
  apply(invertAffine(est), apply(m, t)).forEach((v, i) => close(v, t[i], 1e-10));
});

test('with noisy points it is the least-squares similarity (normal equations, solved independently)', () => {
  const src = [10, 20, 50, 18, 33, 40, 15, 60, 52, 61];
  const dst = [38.2946, 51.6963, 73.5318, 51.5014, 56.0252, 71.7366, 41.5493, 92.3655, 70.7299, 92.2041];
  // Unknowns p = (a, b, tx, ty), x' = a x - b y + tx, y' = b x + a y + ty: minimize |A p - d|^2.
  const rows: number[][] = [];
  const rhs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const [x, y] = [src[2 * i], src[2 * i + 1]];
    rows.push([x, -y, 1, 0]);
    rhs.push(dst[2 * i]);
    rows.push([y, x, 0, 1]);
    rhs.push(dst[2 * i + 1]);
  }
  const ata = [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((c) => rows.reduce((s, row) => s + row[r] * row[c], 0)));
  const atb = [0, 1, 2, 3].map((r) => rows.reduce((s, row, k) => s + row[r] * rhs[k], 0));
  // Gaussian elimination
  const aug = ata.map((row, i) => [...row, atb[i]]);
  for (let i = 0; i < 4; i++) {
    for (let j = i + 1; j < 4; j++) {
      const f = aug[j][i] / aug[i][i];
      for (let k = i; k < 5; k++) aug[j][k] -= f * aug[i][k];
    }
  }
  const p = [0, 0, 0, 0];
  for (let i = 3; i >= 0; i--) p[i] = (aug[i][4] - aug[i].slice(i + 1, 4).reduce((s, v, k) => s + v * p[i + 1 + k], 0)) / aug[i][i];
  const est = estimateSimilarity(src, dst);
  [p[0], -p[1], p[2], p[1], p[0], p[3]].forEach((v, i) => close(est[i], v, 1e-9, `m[${i}]`));
});

test('68 points reduce to eye centres, nose tip and mouth corners', () => {
  const pts = Array.from({ length: 136 }, (_, i) => i);
  // point k = (2k, 2k + 1)
  assert.deepEqual(Array.from(landmarks68To5(pts)), [75, 76, 87, 88, 60, 61, 96, 97, 108, 109]);
});

function image(width: number, height: number, channels: number, f: (x: number, y: number, c: number) => number) {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = f(x, y, c);
  return { data, width, height, channels };
}

test('warpAffine: identity copies, integer shifts pad with the border value 0', () => {
  const src = image(5, 4, 3, (x, y, c) => 10 * x + 50 * y + c + 1);
  assert.deepEqual(warpAffine(src, Float64Array.from([1, 0, 0, 0, 1, 0]), 5, 4), src.data);
  // dst(x, y) = src(x - 2, y + 1)
  const out = warpAffine(src, Float64Array.from([1, 0, 2, 0, 1, -1]), 5, 4);
  const at = (d: Uint8Array, x: number, y: number, c: number) => d[(y * 5 + x) * 3 + c];
  assert.equal(at(out, 0, 0, 0), 0);
  assert.equal(at(out, 1, 2, 1), 0);
  assert.equal(at(out, 2, 0, 2), at(src.data, 0, 1, 2));
  assert.equal(at(out, 4, 2, 0), at(src.data, 2, 3, 0));
  assert.equal(at(out, 4, 3, 0), 0); // row 4 of the source does not exist
});

test("warpAffine's fixed point: 1/32-pixel positions, 15-bit weights, (sum + 2^14) >> 15", () => {
  const src = image(4, 1, 1, (x) => [100, 200, 50, 7][x]);
  // Shift by half a pixel: weights 16384 + 16384, so (a * 16384 + b * 16384 + 16384) >> 15,
  // i.e. (a + b + 1) >> 1: 150, 125, 29; the last column's right tap is outside (border 0):
  // (7 + 0 + 1) >> 1 = 4. (A one-row image: the row below is outside too, with weight 0.)
  const half = warpAffine(src, Float64Array.from([1, 0, -0.5, 0, 1, 0]), 4, 1);
  assert.deepEqual(Array.from(half), [150, 125, 29, 4]);
  // A third of a pixel: X = round(1024/3) + 16 = 357 -> fx = 357 >> 5 & 31 = 11 (0.34375, not 1/3):
  // (100 * 21 * 1024 + 200 * 11 * 1024 + 16384) >> 15 = 134 (floating-point bilinear gives 133).
  const third = warpAffine(src, Float64Array.from([1, 0, -1 / 3, 0, 1, 0]), 4, 1);
  assert.equal(third[0], 134);
});

test('alignFace undoes a similarity: a warped face comes back onto the template', () => {
  // A smooth 112x112 test card on the template, warped into a 160x160 "loose crop".
  const card = image(112, 112, 3, (x, y, c) => Math.round(127 + 100 * Math.sin(x / 9 + c) * Math.cos(y / 11)));
  const th = 0.2;
  const s = 1.2;
  const m = Float64Array.from([s * Math.cos(th), -s * Math.sin(th), 30, s * Math.sin(th), s * Math.cos(th), 10]);
  const crop = { data: warpAffine(card, m, 160, 160), width: 160, height: 160, channels: 3 };
  const landmarks = apply(m, ARCFACE_TEMPLATE_112);
  const aligned = alignFace(crop, landmarks);
  assert.equal(aligned.width, 112);
  let err = 0;
  let n = 0;
  for (let y = 8; y < 104; y++) {
    for (let x = 8; x < 104; x++) {
      for (let c = 0; c < 3; c++) {
        err += Math.abs(aligned.data[(y * 112 + x) * 3 + c] - card.data[(y * 112 + x) * 3 + c]);
        n++;
      }
    }
  }
  assert.ok(err / n < 2, `mean absolute difference ${err / n} after warp and unwarp`);
  // 68-point input gives the same crop as its 5-point reduction.
  const pts68 = new Float64Array(136);
  const five = landmarks;
  const put = (i: number, x: number, y: number) => ((pts68[2 * i] = x), (pts68[2 * i + 1] = y));
  put(36, five[0] - 3, five[1]);
  put(39, five[0] + 3, five[1]);
  put(42, five[2] - 3, five[3]);
  put(45, five[2] + 3, five[3]);
  put(30, five[4], five[5]);
  put(48, five[6], five[7]);
  put(54, five[8], five[9]);
  assert.deepEqual(alignFace(crop, pts68).data, aligned.data);
});

test('flipHorizontal mirrors columns and keeps channel order', () => {
  const src = image(3, 2, 3, (x, y, c) => 100 * y + 10 * x + c);
  const f = flipHorizontal(src);
  assert.deepEqual(Array.from(f.data.subarray(0, 9)), [20, 21, 22, 10, 11, 12, 0, 1, 2]);
});

interface AlignReference {
  landmarks: number[];
  cases: Array<{ name: string; height: number; width: number; template: number[]; matrix: number[]; aligned: string }>;
}

async function png(name: string): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(join(REFERENCE_DIR, 'align', name)).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

test("warpAffine equals OpenCV 4's cv2.warpAffine bit for bit, given the reference's matrix, at every size", async () => {
  const ref = readReference<AlignReference>('align/expected.json');
  assert.match(ref.versions.opencv, /^4\./);
  const source = await png('source.png');
  assert.deepEqual(ref.cases.map((c) => c.name), ['112x112', '112x96', '128x128', '224x224', '256x256']);
  for (const c of ref.cases) {
    const expected = await png(c.aligned);
    assert.deepEqual([c.width, c.height], [expected.width, expected.height], c.name);
    assert.deepEqual(warpAffine(source, Float64Array.from(c.matrix), c.width, c.height, 0), expected.data, c.name);
  }
});

test("the template and the similarity of each size are InsightFace's; the aligned crop matches the reference's", async () => {
  const ref = readReference<AlignReference>('align/expected.json');
  const source = await png('source.png');
  for (const c of ref.cases) {
    // The template of that size, float32 for float32, as the reference builds it.
    assert.deepEqual(Array.from(alignmentTemplate(c.width, c.height)), c.template, `${c.name} template`);
    // scikit-image fits the similarity in its inputs' precision, float32 here (the reference's
    // landmarks and templates are float32; SVD by LAPACK's sgesdd); ours is the float64 closed
    // form, so the matrices agree to float32's precision (1e-5 pixels of translation)...
    const m = estimateSimilarity(ref.landmarks.map((v) => Math.fround(v)), c.template);
    m.forEach((v, i) => assert.ok(Math.abs(v - c.matrix[i]) <= 1e-4, `${c.name} M[${i}] ${v} vs ${c.matrix[i]}`));
    // ... and the crops agree but for the rare pixel whose 1/32-pixel sampling position that moves.
    const aligned = alignFace(source, ref.landmarks, { width: c.width, height: c.height });
    const expected = await png(c.aligned);
    let differ = 0;
    for (let i = 0; i < expected.data.length; i++) if (aligned.data[i] !== expected.data[i]) differ++;
    assert.ok(differ <= expected.data.length / 1000, `${c.name}: ${differ} of ${expected.data.length} values differ`);
  }
  // A number is a square size, as before.
  assert.deepEqual(alignFace(source, ref.landmarks, 128).data, alignFace(source, ref.landmarks, { width: 128, height: 128 }).data);
});

test('sizes InsightFace has no template for are refused with ALIGNMENT_SIZE_UNSUPPORTED', () => {
  const src = image(4, 4, 3, () => 0);
  for (const [w, h] of [[96, 96], [112, 128], [112, 96], [200, 200], [160, 160]]) {
    assert.throws(() => alignmentTemplate(w, h), { code: 'ALIGNMENT_SIZE_UNSUPPORTED' }, `${w}x${h}`);
    assert.throws(() => alignFace(src, ARCFACE_TEMPLATE_112, { width: w, height: h }), { code: 'ALIGNMENT_SIZE_UNSUPPORTED' });
  }
  // 448 = 4 x 112 and 384 = 3 x 128 are supported; 896 (a multiple of both) takes the 112 rule.
  assert.equal(alignmentTemplate(448, 448)[0], Math.fround(Math.fround(38.2946) * 4));
  assert.equal(alignmentTemplate(384, 384)[0], Math.fround(Math.fround(Math.fround(38.2946) * 3) + 24));
  assert.equal(alignmentTemplate(896, 896)[0], Math.fround(Math.fround(38.2946) * 8));
});
