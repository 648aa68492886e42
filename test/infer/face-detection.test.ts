// Face detection decoding against cases worked out by hand: SSD anchors, BlazeFace box and
// keypoint regression, weighted NMS, the letterbox map back to photo pixels, and the alignment
// from keypoints onto the template.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decodeBlazeface, type RawDetection } from '../../src/infer/face-detection/decode-blazeface.js';
import { ssdAnchors } from '../../src/infer/face-detection/ssd-anchors.js';
import { intersectionOverUnion, weightedNms } from '../../src/infer/face-detection/weighted-nms.js';
import { fitToInput } from '../../src/infer/fit-to-input.js';
import { KEYPOINT_TEMPLATE_112, alignFromKeypoints, keypointAlignment } from '../../src/infer/keypoint-align.js';

const close = (actual: number, expected: number, tol = 1e-6, what = '') => assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} is not ${expected} (+-${tol})`);

describe('ssdAnchors', () => {
  test('BlazeFace 256: a 16x16 grid with 2 anchors per cell, then 8x8 with 6, centred on their cells', () => {
    const a = ssdAnchors(256, 256, [{ stride: 16, perCell: 2 }, { stride: 32, perCell: 6 }]);
    assert.equal(a.length, 2 * 896);
    const at = (i: number) => [a[2 * i], a[2 * i + 1]];
    assert.deepEqual(at(0), [0.03125, 0.03125]); // cell (0, 0) of 16: centre 0.5 / 16
    assert.deepEqual(at(1), [0.03125, 0.03125]);
    assert.deepEqual(at(2), [0.09375, 0.03125]); // next cell to the right: 1.5 / 16
    assert.deepEqual(at(32), [0.03125, 0.09375]); // second row starts after 16 cells x 2
    assert.deepEqual(at(511), [0.96875, 0.96875]);
    for (let i = 512; i < 518; i++) assert.deepEqual(at(i), [0.0625, 0.0625]); // first 8x8 cell, 6 anchors
    assert.deepEqual(at(518), [0.1875, 0.0625]);
    assert.deepEqual(at(895), [0.9375, 0.9375]);
  });

  test('a size that does not divide by the stride gets ceil(size / stride) cells', () => {
    const a = ssdAnchors(20, 30, [{ stride: 16, perCell: 1 }]);
    // 2 rows x 2 columns
    assert.deepEqual(Array.from(a), [0.25, 0.25, 0.75, 0.25, 0.25, 0.75, 0.75, 0.75]);
  });
});

describe('decodeBlazeface', () => {
  // Input 128x128, one keypoint; anchor 0 at (0.5, 0.5), anchor 1 at (0.25, 0.25).
  const anchors = Float32Array.from([0.5, 0.5, 0.25, 0.25]);
  const layout = { inputWidth: 128, inputHeight: 128, keypoints: 1 };

  test('offsets in input pixels from the anchor centre; score = sigmoid(logit)', () => {
    const raw = [
      // logit, cx, cy, w, h (pixels), keypoint x, y
      0, 12.8, -6.4, 25.6, 12.8, 6.4, 6.4,
      -5, 0, 0, 10, 10, 0, 0,
    ];
    const dets = decodeBlazeface(raw, anchors, layout, 0.4);
    assert.equal(dets.length, 1, 'sigmoid(-5) = 0.0067 is below 0.4');
    const d = dets[0];
    close(d.score, 0.5);
    // centre (0.5 + 12.8/128, 0.5 - 6.4/128) = (0.6, 0.45); size (0.2, 0.1)
    close(d.xMin, 0.5);
    close(d.xMax, 0.7);
    close(d.yMin, 0.4);
    close(d.yMax, 0.5);
    close(d.keypoints[0], 0.55);
    close(d.keypoints[1], 0.55);
  });

  test('a threshold of 0 keeps every anchor; huge logits saturate at 1 without overflow', () => {
    const raw = [500, 0, 0, 1, 1, 0, 0, -500, 0, 0, 1, 1, 0, 0];
    const dets = decodeBlazeface(raw, anchors, layout, 0);
    assert.equal(dets.length, 2);
    close(dets[0].score, 1);
    close(dets[1].score, 1 / (1 + Math.exp(100)), 1e-40);
  });

  test('a raw output of the wrong size is refused', () => {
    assert.throws(() => decodeBlazeface(new Float32Array(13), anchors, layout, 0.5), /14/);
  });
});

describe('weightedNms', () => {
  const det = (score: number, xMin: number, yMin: number, xMax: number, yMax: number, kx = 0, ky = 0): RawDetection => ({ score, xMin, yMin, xMax, yMax, keypoints: Float64Array.from([kx, ky]) });

  test('IoU by hand: two 2x2 squares overlapping on a 1x1 corner share 1/7', () => {
    close(intersectionOverUnion(det(1, 0, 0, 2, 2), det(1, 1, 1, 3, 3)), 1 / 7);
    assert.equal(intersectionOverUnion(det(1, 0, 0, 1, 1), det(1, 1, 0, 2, 1)), 0, 'touching edges do not overlap');
  });

  test('overlapping detections merge into their score-weighted mean, keeping the best score', () => {
    const a = det(0.9, 0, 0, 1, 1, 0.5, 0.5);
    const b = det(0.6, 0.1, 0, 1.1, 1, 0.6, 0.5); // IoU 0.9 / 1.1 = 0.818 > 0.3
    const c = det(0.8, 2, 2, 3, 3, 2.5, 2.5);
    const out = weightedNms([b, c, a], 0.3);
    assert.equal(out.length, 2);
    close(out[0].score, 0.9);
    close(out[0].xMin, (0.9 * 0 + 0.6 * 0.1) / 1.5); // 0.04
    close(out[0].xMax, (0.9 * 1 + 0.6 * 1.1) / 1.5); // 1.04
    close(out[0].yMin, 0);
    close(out[0].yMax, 1);
    close(out[0].keypoints[0], (0.9 * 0.5 + 0.6 * 0.6) / 1.5); // 0.54
    assert.deepEqual([out[1].score, out[1].xMin, out[1].keypoints[0]], [0.8, 2, 2.5], 'a lone detection is kept as it is');
  });

  test('below the IoU threshold both stay; maxDetections keeps the best', () => {
    const a = det(0.9, 0, 0, 2, 2);
    const b = det(0.7, 1, 1, 3, 3); // IoU 1/7 = 0.14
    assert.equal(weightedNms([a, b], 0.3).length, 2);
    assert.equal(weightedNms([a, b], 0.1).length, 1);
    const top = weightedNms([b, a], 0.3, 1);
    assert.equal(top.length, 1);
    assert.equal(top[0].score, 0.9);
  });
});

describe('fitToInput', () => {
  test('letterbox: a 200x100 image in 128x128 is scaled by 0.64 and centred with 32 rows of black above', async () => {
    // A white 20x10 block at (100, 50) on black.
    const W = 200, H = 100;
    const data = new Uint8Array(W * H * 3);
    for (let y = 50; y < 60; y++) for (let x = 100; x < 120; x++) data.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
    const f = await fitToInput({ data, width: W, height: H, channels: 3 }, 128, 128, 'letterbox');
    assert.deepEqual([f.scaleX, f.scaleY, f.offsetX, f.offsetY], [0.64, 0.64, 0, 32]);
    assert.equal(f.pixels.width, 128);
    assert.equal(f.pixels.data.length, 128 * 128 * 3);
    // The block lands at x 64..76.8, y 32 + 32..38.4: its centre pixel is white, the padding black.
    const px = (x: number, y: number) => f.pixels.data[(y * 128 + x) * 3];
    assert.ok(px(70, 67) > 200, `centre of the block: ${px(70, 67)}`);
    assert.equal(px(70, 10), 0);
    assert.equal(px(70, 120), 0);
  });

  test('stretch fills the input; center-crop is refused for detection', async () => {
    const img = { data: new Uint8Array(30 * 10 * 3), width: 30, height: 10, channels: 3 as const };
    const f = await fitToInput(img, 64, 64, 'stretch');
    assert.deepEqual([f.scaleX, f.scaleY, f.offsetX, f.offsetY], [64 / 30, 6.4, 0, 0]);
    await assert.rejects(fitToInput(img, 64, 64, 'center-crop'), /letterbox or stretch/);
  });
});

describe('alignment from detector keypoints', () => {
  const template = (name: string) => KEYPOINT_TEMPLATE_112[name];
  const kp = (f: (x: number, y: number) => [number, number]) =>
    ['right_eye', 'left_eye', 'nose_tip', 'mouth_centre', 'right_ear'].map((name) => {
      const t = template(name) ?? [0, 0];
      const [x, y] = f(t[0], t[1]);
      return { name, x, y };
    });

  test('the template points: ArcFace\'s eyes and nose, the mouth centre between its corners', () => {
    close(template('right_eye')[0], 38.2946, 1e-4);
    close(template('left_eye')[1], 51.5014, 1e-4);
    close(template('mouth_centre')[0], (41.5493 + 70.7299) / 2, 1e-4);
    close(template('mouth_centre')[1], (92.3655 + 92.2041) / 2, 1e-4);
  });

  test('keypoints on the template (in continuous coordinates) give the identity; ears are ignored', () => {
    const m = keypointAlignment(kp((x, y) => [x + 0.5, y + 0.5]));
    [1, 0, 0, 0, 1, 0].forEach((v, i) => close(m[i], v, 1e-9, `m[${i}]`));
  });

  test('a face twice the template size, rotated 90 degrees and moved, is mapped back exactly', () => {
    // photo = R90 * 2 * template + (300, 40), with template in pixel centres.
    const m = keypointAlignment(kp((x, y) => [-2 * y + 300 + 0.5, 2 * x + 40 + 0.5]));
    // inverse: template x = (photo y - 40) / 2, template y = -(photo x - 300) / 2
    [0, 0.5, -20, -0.5, 0, 150].forEach((v, i) => close(m[i], v, 1e-9, `m[${i}]`));
  });

  test('templateScale shrinks the template about the crop centre; size scales it', () => {
    const m = keypointAlignment(kp((x, y) => [x + 0.5, y + 0.5]), { templateScale: 0.5 });
    // x' = 56 + (x - 56) * 0.5
    [0.5, 0, 28, 0, 0.5, 28].forEach((v, i) => close(m[i], v, 1e-9, `m[${i}]`));
    const big = keypointAlignment(kp((x, y) => [x + 0.5, y + 0.5]), { size: 224 });
    [2, 0, 0, 0, 2, 0].forEach((v, i) => close(big[i], v, 1e-9, `big[${i}]`));
  });

  test('fewer than two known keypoints cannot be aligned', () => {
    assert.throws(() => keypointAlignment([{ name: 'nose_tip', x: 1, y: 1 }, { name: 'right_ear', x: 3, y: 1 }]), /two or more/);
  });

  test('the crop: a dot on the photo where the nose is lands on the template nose', () => {
    const W = 300, H = 200;
    const data = new Uint8Array(W * H * 3);
    // Face at 1.5x the template, shifted by (60, 20); nose pixel made white.
    const pts = kp((x, y) => [1.5 * x + 60 + 0.5, 1.5 * y + 20 + 0.5]);
    const nose = pts.find((p) => p.name === 'nose_tip')!;
    const nx = Math.round(nose.x - 0.5), ny = Math.round(nose.y - 0.5);
    for (let y = ny - 1; y <= ny + 1; y++) for (let x = nx - 1; x <= nx + 1; x++) data.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
    const crop = alignFromKeypoints({ data, width: W, height: H, channels: 3 }, pts);
    assert.equal(crop.width, 112);
    const t = template('nose_tip');
    assert.ok(crop.data[(Math.round(t[1]) * 112 + Math.round(t[0])) * 3] > 150, 'the nose is at the template nose');
    assert.equal(crop.data[(10 * 112 + 10) * 3], 0);
  });
});
