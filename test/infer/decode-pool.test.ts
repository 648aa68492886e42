// Decoding and face alignment in worker threads: the tensors (written in place into shared
// memory) match values worked out by hand, the pool bounds concurrent and queued decodes,
// honours the pixel and face limits, and drops aborted work, holding a running task's slot until
// its worker is done with it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { DecodePool } from '../../src/infer/decode-pool.js';
import { ARCFACE_TEMPLATE_112 } from '../../src/infer/face-align.js';
import { colorEmbedder, meanIntensityClassifier, solidPng } from './tiny-models.js';

const grayInput = { ...meanIntensityClassifier().manifest.input };
const faceInput = { ...colorEmbedder({ size: 112 }).manifest.input };
/** A slot of shared memory for one item of `input`'s tensor, filled with NaN. */
const slot = (input: { height: number; width: number; channels: number }) => new Float32Array(new SharedArrayBuffer(input.height * input.width * input.channels * 4)).fill(NaN);

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
    const tensor = slot(grayInput);
    await p.tensor(await solidPng(50, 40, 200), grayInput, tensor);
    assert.equal(tensor.length, 28 * 28);
    for (const v of tensor) assert.ok(Math.abs(v - 200 / 255) < 1e-6);
    const rgb = slot(faceInput);
    await p.tensor(await solidPng(30, 30, [255, 0, 51]), faceInput, rgb);
    const plane = 112 * 112;
    // colorEmbedder's input: (v - 127.5) / 127.5, NCHW.
    assert.ok(Math.abs(rgb[0] - 1) < 1e-6 && Math.abs(rgb[plane] + 1) < 1e-6 && Math.abs(rgb[2 * plane] - (51 - 127.5) / 127.5) < 1e-6);
    await assert.rejects(p.tensor(await solidPng(5, 5, 1), grayInput, new Float32Array(784)), /SharedArrayBuffer/);
    const decoded = await p.decode(await solidPng(7, 5, [1, 2, 3]));
    assert.deepEqual([decoded.width, decoded.height, decoded.channels, ...decoded.data.slice(0, 3)], [7, 5, 3, 1, 2, 3]);
  });

  test('at most `concurrency` decodes run and `maxQueued` wait; more are refused with QUEUE_FULL', async () => {
    const p = pool({ concurrency: 1, maxQueued: 1 });
    const png = await solidPng(64, 64, 9);
    const [a, b] = [slot(grayInput), slot(grayInput)];
    const first = p.tensor(png, grayInput, a);
    const second = p.tensor(png, grayInput, b);
    assert.deepEqual(p.stats(), { queued: 1, decoding: 1 });
    await assert.rejects(p.tensor(png, grayInput, slot(grayInput)), (err: { code?: string; retryAfterS?: number }) => err.code === 'QUEUE_FULL' && err.retryAfterS === 1);
    await Promise.all([first, second]);
    for (const t of [a, b]) assert.ok(t.every((v) => Math.abs(v - 9 / 255) < 1e-6));
  });

  test('pixel limit, unreadable bytes and aborted tasks', async () => {
    const p = pool({ concurrency: 1, maxQueued: 4, maxPixels: 100 });
    await assert.rejects(p.tensor(await solidPng(11, 10, 0), grayInput, slot(grayInput)), { code: 'IMAGE_TOO_LARGE' });
    const small = slot(grayInput);
    await p.tensor(await solidPng(10, 10, 0), grayInput, small);
    assert.ok(small.every((v) => v === 0));
    await assert.rejects(p.tensor(Buffer.from('not an image'), grayInput, slot(grayInput)), { code: 'IMAGE_UNREADABLE' });
    const busy = p.tensor(await solidPng(10, 10, 0), grayInput, slot(grayInput));
    const controller = new AbortController();
    const queued = p.tensor(await solidPng(10, 10, 0), grayInput, slot(grayInput), { signal: controller.signal });
    controller.abort(new Error('deadline'));
    await assert.rejects(queued, /deadline/);
    assert.equal(p.stats().queued, 0);
    await busy;
  });

  test('an aborted task that a worker is writing into its slot rejects only once the worker is done', async () => {
    const p = pool({ concurrency: 1, maxQueued: 4 });
    const into = slot(faceInput);
    const controller = new AbortController();
    const running = p.tensor(await solidPng(1000, 1000, 255), faceInput, into, { signal: controller.signal });
    assert.deepEqual(p.stats(), { queued: 0, decoding: 1 });
    controller.abort(new Error('client gone'));
    await assert.rejects(running, /client gone/);
    // By the time it rejected, the worker had finished writing: the slot is whole and free to reuse.
    assert.deepEqual(p.stats(), { queued: 0, decoding: 0 });
    assert.ok(into.every((v) => v === 1), 'the slot holds the whole decoded image');
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
