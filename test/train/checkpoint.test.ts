import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint, writeCheckpoint } from '../../src/train/checkpoint.js';

describe('checkpoints', () => {
  it('round-trips state, weights and optimizer slots exactly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const path = join(dir, 'checkpoint.ckpt');
    const weights = {
      'conv/kernel': { shape: [3, 3, 1, 2], values: Float32Array.from({ length: 18 }, (_, i) => i / 7 - 1) },
      'bn/moving_mean': { shape: [2], values: Float32Array.from([0.25, -3e-8]) },
    };
    const optimizer = { iter: { shape: [], values: Float32Array.from([42]) } };
    const objective = { 'memory': { shape: [2, 2], values: Float32Array.from([1, -2, 3.5, 0]) } };
    writeCheckpoint(path, { state: { epoch: 3, note: 'ü' }, weights, objective, optimizer });
    const back = readCheckpoint<{ epoch: number; note: string }>(path);
    assert.deepEqual(back.state, { epoch: 3, note: 'ü' });
    assert.deepEqual(Object.keys(back.weights), ['conv/kernel', 'bn/moving_mean']);
    assert.deepEqual(back.weights['conv/kernel'], weights['conv/kernel']);
    assert.deepEqual(back.weights['bn/moving_mean'], weights['bn/moving_mean']);
    assert.deepEqual(back.objective, objective);
    assert.deepEqual(back.optimizer, optimizer);
    assert.deepEqual(readdirSync(dir), ['checkpoint.ckpt'], 'no temporary file is left behind');
  });

  it('refuses a file that is not a checkpoint, or is truncated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    writeFileSync(join(dir, 'bad'), 'hello world, this is not it');
    assert.throws(() => readCheckpoint(join(dir, 'bad')), /not a protoserve checkpoint/);
    const path = join(dir, 'c');
    writeCheckpoint(path, { state: {}, weights: { w: { shape: [4], values: new Float32Array(4) } }, objective: {}, optimizer: {} });
    const bytes = readFileSyncTruncated(path, 8);
    writeFileSync(path, bytes);
    assert.throws(() => readCheckpoint(path), /truncated at tensor w/);
    writeFileSync(path, readFileSyncTruncated(path, 3));
    assert.throws(() => readCheckpoint(path), /truncated tensor data/);
  });
});

function readFileSyncTruncated(path: string, drop: number): Buffer {
  const bytes = readFileSync(path);
  return bytes.subarray(0, bytes.length - drop);
}
