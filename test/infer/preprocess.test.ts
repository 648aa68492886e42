import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import sharp from 'sharp';

import type { InputSpec } from '../../src/artifact/manifest.js';
import { decodeImage, imageToTensor, preprocessImage, preprocessPixels } from '../../src/infer/preprocess.js';
import { REFERENCE_DIR, readReference } from '../fixtures/reference.js';

/** 2x2 RGB: red, green / blue, (10, 20, 30). */
const RGB = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
const png = (data: number[], width: number, height: number, channels: 1 | 3 | 4) =>
  sharp(Buffer.from(data), { raw: { width, height, channels } }).png().toBuffer();

function spec(overrides: Partial<InputSpec>): InputSpec {
  return { tensor: 'x', layout: 'NCHW', height: 2, width: 2, channels: 3, color: 'rgb', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], resize: 'stretch', ...overrides };
}

function close(actual: Float32Array, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= tol, `[${i}] ${v} vs ${expected[i]}\nactual ${Array.from(actual).join(', ')}`));
}

describe('preprocessImage: exact tensor values', () => {
  test('rgb, NCHW, (p - 127.5) / 127.5', async () => {
    const t = await preprocessImage(await png(RGB, 2, 2, 3), spec({ mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] }));
    const x = (p: number) => (p - 127.5) / 127.5;
    // planes R, G, B; pixels in row-major order
    close(t, [1, -1, -1, x(10), -1, 1, -1, x(20), -1, -1, 1, x(30)]);
  });

  test('bgr, NHWC, per-channel mean and std', async () => {
    const t = await preprocessImage(await png(RGB, 2, 2, 3), spec({ layout: 'NHWC', color: 'bgr', mean: [0, 10, 20], std: [1, 2, 4] }));
    // per pixel: (B - 0) / 1, (G - 10) / 2, (R - 20) / 4
    close(t, [0, -5, 58.75, 0, 122.5, -5, 255, -5, -5, 30, 5, -2.5]);
  });

  test("gray from RGB is PIL's convert('L'), scaled by 1/255", async () => {
    const t = await preprocessImage(await png(RGB, 2, 2, 3), spec({ channels: 1, color: 'gray', scale: 1 / 255, mean: [0], std: [1] }));
    // (R*19595 + G*38470 + B*7471 + 32768) >> 16: red 76, green 150, blue 29, (10,20,30) 18
    close(t, [76 / 255, 150 / 255, 29 / 255, 18 / 255]);
  });

  test('a gray PNG keeps its values exactly; mean and std apply', async () => {
    const t = await preprocessImage(await png([0, 50, 100, 255], 2, 2, 1), spec({ channels: 1, color: 'gray', scale: 1 / 255, mean: [0.5], std: [0.5] }));
    close(t, [-1, 50 / 127.5 - 1, 100 / 127.5 - 1, 1]);
    const rgb = await preprocessImage(await png([0, 50, 100, 255], 2, 2, 1), spec({}));
    close(rgb, [0, 50, 100, 255, 0, 50, 100, 255, 0, 50, 100, 255]);
  });

  test('transparency is composited onto white', async () => {
    const t = await preprocessImage(await png([255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 128, 10, 20, 30, 255], 2, 2, 4), spec({ layout: 'NHWC' }));
    close(t, [255, 255, 255, 0, 255, 0, 127, 127, 255, 10, 20, 30], 1);
  });
});

describe('preprocessImage: resize modes', () => {
  test('letterbox pads with black above and below a wide image', async () => {
    const white = await png(Array(4 * 2 * 3).fill(255), 4, 2, 3);
    const t = await preprocessImage(white, spec({ height: 4, width: 4, channels: 1, color: 'gray', mean: [0], std: [1], resize: 'letterbox' }));
    close(t, [0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0]);
  });

  test('center-crop keeps the middle columns', async () => {
    const cols = [1, 2, 3, 4, 5, 6];
    const img = await png([...cols, ...cols], 6, 2, 1);
    const t = await preprocessImage(img, spec({ channels: 1, color: 'gray', mean: [0], std: [1], resize: 'center-crop' }));
    close(t, [3, 4, 3, 4]);
  });

  test('stretch maps any size to height x width', async () => {
    const img = await png(Array(7 * 3 * 3).fill(200), 7, 3, 3);
    const t = await preprocessImage(img, spec({ height: 5, width: 4 }));
    assert.equal(t.length, 3 * 5 * 4);
    close(t, Array(60).fill(200), 1);
  });
});

describe('decoding', () => {
  test('applies EXIF orientation', async () => {
    const jpeg = await sharp(Buffer.alloc(2 * 1 * 3, 200), { raw: { width: 2, height: 1, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const img = await decodeImage(jpeg);
    assert.deepEqual([img.width, img.height, img.channels], [1, 2, 3]);
  });

  test('reads webp and gif too', async () => {
    for (const format of ['webp', 'gif'] as const) {
      const bytes = await sharp(Buffer.from(RGB), { raw: { width: 2, height: 2, channels: 3 } })[format](format === 'webp' ? { lossless: true } : {}).toBuffer();
      const img = await decodeImage(bytes);
      assert.deepEqual([img.width, img.height], [2, 2], format);
      assert.deepEqual(Array.from(img.data), RGB, format);
    }
  });

  test('a truncated JPEG: refused by default, decoded as OpenCV 4 imread decodes it with failOn none', async () => {
    const bytes = readFileSync(join(REFERENCE_DIR, 'align', 'truncated.jpg'));
    await assert.rejects(decodeImage(bytes), { code: 'IMAGE_UNREADABLE' });
    const img = await decodeImage(bytes, { failOn: 'none' });
    const { data } = await sharp(join(REFERENCE_DIR, 'align', 'truncated-imread.png')).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([img.width, img.height, img.channels], [170, 150, 3]);
    assert.deepEqual(Buffer.from(img.data), data);
  });

  test('non-images, empty and truncated input are IMAGE_UNREADABLE; huge ones IMAGE_TOO_LARGE', async () => {
    await assert.rejects(decodeImage(Buffer.from('{"image": "no"}')), { code: 'IMAGE_UNREADABLE' });
    await assert.rejects(decodeImage(Buffer.alloc(0)), { code: 'IMAGE_UNREADABLE' });
    const full = await png(RGB, 2, 2, 3);
    await assert.rejects(decodeImage(full.subarray(0, 30)), { code: 'IMAGE_UNREADABLE' });
    await assert.rejects(preprocessImage(full, spec({}), { maxPixels: 3 }), { code: 'IMAGE_TOO_LARGE' });
  });
});

describe('preprocessPixels (decoded RGB, e.g. aligned face crops)', () => {
  test('pixels of the model size give the same tensor as the encoded image', async () => {
    const input = spec({ mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] });
    const fromPixels = await preprocessPixels({ data: Uint8Array.from(RGB), width: 2, height: 2, channels: 3 }, input);
    const fromPng = await preprocessImage(await png(RGB, 2, 2, 3), input);
    assert.deepEqual(fromPixels, fromPng);
  });

  test('other sizes are resized; wrong buffers are INPUT_INVALID', async () => {
    const t = await preprocessPixels({ data: new Uint8Array(4 * 4 * 3).fill(50), width: 4, height: 4, channels: 3 }, spec({}));
    close(t, Array(12).fill(50), 1);
    await assert.rejects(preprocessPixels({ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }, spec({})), { code: 'INPUT_INVALID' });
    assert.throws(() => imageToTensor({ data: new Uint8Array(27), width: 3, height: 3, channels: 3 }, spec({})), { code: 'INPUT_INVALID', message: /use preprocessPixels/ });
  });

  test('imageToTensor fills a batch in place at an offset', () => {
    const input = spec({});
    const batch = new Float32Array(2 * 12).fill(-9);
    imageToTensor({ data: Uint8Array.from(RGB), width: 2, height: 2, channels: 3 }, input, batch, 12);
    close(batch.subarray(0, 12), Array(12).fill(-9));
    close(batch.subarray(12), [255, 0, 0, 10, 0, 255, 0, 20, 0, 0, 255, 30]);
  });
});

describe("grey as PIL's Image.convert('L')", () => {
  test('equals PIL on every colour where float luma would differ, and on 4096 random ones', () => {
    const meta = readReference<{ rows: number; coloursDifferingFromFloatLuma: number }>('pil-convert-L.json');
    const table = readFileSync(join(REFERENCE_DIR, 'pil-convert-L.bin'));
    assert.equal(table.length, meta.rows * 4);
    assert.equal(meta.coloursDifferingFromFloatLuma, 9716);
    const n = meta.rows;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) rgb.set(table.subarray(i * 4, i * 4 + 3), i * 3);
    const t = imageToTensor({ data: rgb, width: n, height: 1, channels: 3 }, spec({ height: 1, width: n, channels: 1, color: 'gray', mean: [0], std: [1] }));
    let differ = 0;
    for (let i = 0; i < n; i++) if (t[i] !== table[i * 4 + 3]) differ++;
    assert.equal(differ, 0, `${differ} of ${n} colours differ from PIL`);
  });
});
