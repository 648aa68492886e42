// Decoding and face alignment in worker threads: the tensors match values worked out by hand,
// the pool bounds concurrent and queued decodes, honours the pixel and face limits, and drops
// aborted work.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { DecodePool } from '../../src/infer/decode-pool.js';
import { ARCFACE_TEMPLATE_112 } from '../../src/infer/face-align.js';
import { colorEmbedder, meanIntensityClassifier, solidPng } from './tiny-models.js';

const grayInput = { ...meanIntensityClassifier().manifest.input };
const faceInput = { ...colorEmbedder({ size: 112 }).manifest.input };

describe('DecodePool', () => {
  const pools: DecodePool[] = [];
  const pool = (options: ConstructorParameters<typeof DecodePool>[0]) => {
    const p = new DecodePool(options);
    pools.push(p);
    return p;
  };
  after(() => Promise.all(pools.map((p) => p.close())));

  test('an image becomes the model input tensor: (v * scale - mean) / std at every position', async () => {
    const p = pool({ concurrency: 2, maxQueued: 8 });
    const tensor = await p.tensor(await solidPng(50, 40, 200), grayInput);
    assert.equal(tensor.length, 28 * 28);
    for (const v of tensor) assert.ok(Math.abs(v - 200 / 255) < 1e-6);
    const rgb = await p.tensor(await solidPng(30, 30, [255, 0, 51]), faceInput);
    const plane = 112 * 112;
    // colorEmbedder's input: (v - 127.5) / 127.5, NCHW.
    assert.ok(Math.abs(rgb[0] - 1) < 1e-6 && Math.abs(rgb[plane] + 1) < 1e-6 && Math.abs(rgb[2 * plane] - (51 - 127.5) / 127.5) < 1e-6);
    const decoded = await p.decode(await solidPng(7, 5, [1, 2, 3]));
    assert.deepEqual([decoded.width, decoded.height, decoded.channels, ...decoded.data.slice(0, 3)], [7, 5, 3, 1, 2, 3]);
  });

  test('at most `concurrency` decodes run and `maxQueued` wait; more are refused with QUEUE_FULL', async () => {
    const p = pool({ concurrency: 1, maxQueued: 1 });
    const png = await solidPng(64, 64, 9);
    const first = p.tensor(png, grayInput);
    const second = p.tensor(png, grayInput);
    assert.deepEqual(p.stats(), { queued: 1, decoding: 1 });
    await assert.rejects(p.tensor(png, grayInput), (err: { code?: string; retryAfterS?: number }) => err.code === 'QUEUE_FULL' && err.retryAfterS === 1);
    assert.equal((await first).length, 784);
    assert.equal((await second).length, 784);
  });

  test('pixel limit, unreadable bytes and aborted tasks', async () => {
    const p = pool({ concurrency: 1, maxQueued: 4, maxPixels: 100 });
    await assert.rejects(p.tensor(await solidPng(11, 10, 0), grayInput), { code: 'IMAGE_TOO_LARGE' });
    assert.equal((await p.tensor(await solidPng(10, 10, 0), grayInput)).length, 784);
    await assert.rejects(p.tensor(Buffer.from('not an image'), grayInput), { code: 'IMAGE_UNREADABLE' });
    const busy = p.tensor(await solidPng(10, 10, 0), grayInput);
    const controller = new AbortController();
    const queued = p.tensor(await solidPng(10, 10, 0), grayInput, { signal: controller.signal });
    controller.abort(new Error('deadline'));
    await assert.rejects(queued, /deadline/);
    assert.equal(p.stats().queued, 0);
    await busy;
  });

  test('faces are aligned onto the ArcFace template, at most limits.max_faces of them', async () => {
    const p = pool({ concurrency: 1, maxQueued: 4, maxFaces: 2 });
    // A 112x112 photo whose landmarks already sit on the template: alignment is the identity.
    const photo = await solidPng(112, 112, [255, 0, 51]);
    const faces = [ARCFACE_TEMPLATE_112, ARCFACE_TEMPLATE_112, ARCFACE_TEMPLATE_112];
    const { tensors, dropped } = await p.align(photo, faces, faceInput);
    assert.equal(tensors.length, 2);
    assert.equal(dropped, 1);
    const plane = 112 * 112;
    const centre = 56 * 112 + 56;
    assert.ok(Math.abs(tensors[0][centre] - 1) < 1e-6 && Math.abs(tensors[0][plane + centre] + 1) < 1e-6);
  });
});
