// The queue in front of an executor, driven by a runner whose runs finish only when the test
// says so: batching, order, isolation of a failing input, back-pressure, deadlines, closing, and
// when a submission's items are released (the shared input slots they live in are reused then).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BatchScheduler, type BatchRunner } from '../../src/infer/batch-scheduler.js';
import { InferError } from '../../src/infer/infer-error.js';

/** Each item is one float x; its row is [2x]. A run fails when any x is negative. Runs wait for release(). */
class GatedRunner implements BatchRunner {
  readonly batches: number[][] = [];
  private readonly waiting: Array<() => void> = [];
  constructor(readonly slots = 1) {}

  run(items: readonly Float32Array[]): Promise<Float32Array[]> {
    const xs = items.map((item) => item[0]);
    this.batches.push(xs);
    return new Promise((resolve, reject) => {
      this.waiting.push(() => (xs.some((x) => x < 0) ? reject(new InferError('INFERENCE_FAILED', `bad input in [${xs}]`)) : resolve(xs.map((x) => Float32Array.of(2 * x)))));
    });
  }

  get pending(): number {
    return this.waiting.length;
  }

  /** Finishes the runs started so far, and waits for the scheduler to react. */
  async release(): Promise<void> {
    for (const finish of this.waiting.splice(0)) finish();
    await new Promise((r) => setImmediate(r));
  }
}

const item = (x: number) => Float32Array.of(x);
const settings = { maxBatch: 4, maxDelayMs: 0, maxQueue: 8 };
const tick = () => new Promise((r) => setImmediate(r));

describe('BatchScheduler', () => {
  test('items queued while the runner is busy run as one batch, each getting its own row', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, settings, 'm');
    const first = s.submit([item(1)]);
    const rest = [2, 3, 4].map((x) => s.submit([item(x)]));
    assert.deepEqual(runner.batches, [[1]]);
    await runner.release();
    assert.deepEqual(runner.batches, [[1], [2, 3, 4]]);
    await runner.release();
    const rows = await Promise.all([first, ...rest]);
    assert.deepEqual(rows.map(([r]) => r.row[0]), [2, 4, 6, 8]);
    assert.deepEqual(rows.map(([r]) => r.batchSize), [1, 3, 3, 3]);
    assert.deepEqual(s.stats(), { queued: 0, running: 0, items: 4, batches: 2, rejected: 0 });
  });

  test('a batch holds at most maxBatch items; the rest wait for the next run, in order', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, settings, 'm');
    const all = Promise.all([s.submit([item(0)]), s.submit([1, 2, 3, 4, 5, 6].map(item))]);
    await runner.release();
    await runner.release();
    await runner.release();
    assert.deepEqual(runner.batches, [[0], [1, 2, 3, 4], [5, 6]]);
    const [, many] = await all;
    assert.deepEqual(many.map((r) => r.row[0]), [2, 4, 6, 8, 10, 12]);
  });

  test('maxDelayMs holds lone items for batch-mates while the runner is idle; a full batch goes at once', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, { ...settings, maxDelayMs: 60_000 }, 'm');
    const a = s.submit([item(1)]);
    const b = s.submit([item(2)]);
    await tick();
    assert.equal(runner.batches.length, 0, 'waiting for batch-mates');
    const cd = s.submit([item(3), item(4)]);
    assert.deepEqual(runner.batches, [[1, 2, 3, 4]], 'a full batch is dispatched without waiting');
    await runner.release();
    await Promise.all([a, b, cd]);
  });

  test('after maxDelayMs a lone item runs by itself', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, { ...settings, maxDelayMs: 20 }, 'm');
    const a = s.submit([item(1)]);
    for (let i = 0; i < 400 && runner.batches.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(runner.batches, [[1]]);
    await runner.release();
    assert.equal((await a)[0].row[0], 2);
  });

  test('one failing input fails only its own request: its batch-mates are run again without it', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, settings, 'm');
    const busy = s.submit([item(0)]);
    const results = [1, -1, 3].map((x) => s.submit([item(x)]).then((r) => r[0].row[0], (err: Error) => err));
    await runner.release(); // the first run
    await runner.release(); // the batch [1, -1, 3] fails
    for (let i = 0; i < 3; i++) await runner.release(); // each alone
    await busy;
    const [ok1, bad, ok3] = await Promise.all(results);
    assert.equal(ok1, 2);
    assert.equal(ok3, 6);
    assert.ok(bad instanceof InferError && bad.code === 'INFERENCE_FAILED', String(bad));
    assert.deepEqual(runner.batches, [[0], [1, -1, 3], [1], [-1], [3]]);
  });

  test('a full queue refuses at once with QUEUE_FULL and a Retry-After; a submission is all or none', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, { ...settings, maxQueue: 2 }, 'm');
    const running = s.submit([item(1)]);
    const queued = s.submit([item(2), item(3)]);
    await assert.rejects(s.submit([item(4)]), (err: { code?: string; retryAfterS?: number }) => err.code === 'QUEUE_FULL' && err.retryAfterS! >= 1);
    assert.deepEqual({ queued: s.stats().queued, rejected: s.stats().rejected }, { queued: 2, rejected: 1 });
    await runner.release();
    await runner.release();
    await Promise.all([running, queued]);
    // Room for one, two asked: neither is queued.
    const blocker = s.submit([item(1)]);
    const one = s.submit([item(2)]);
    await assert.rejects(s.submit([item(3), item(4)]), { code: 'QUEUE_FULL' });
    assert.equal(s.stats().queued, 1);
    await runner.release();
    await runner.release();
    await Promise.all([blocker, one]);
  });

  test('an aborted item leaves the queue at once with the signal reason; its neighbours still run', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, settings, 'm');
    const busy = s.submit([item(1)]);
    const controller = new AbortController();
    const doomed = s.submit([item(2)], { signal: controller.signal });
    const kept = s.submit([item(3)]);
    const reason = new Error('deadline passed');
    controller.abort(reason);
    await assert.rejects(doomed, (err) => err === reason);
    assert.equal(s.stats().queued, 1);
    await runner.release();
    await runner.release();
    assert.deepEqual(runner.batches, [[1], [3]], 'the aborted item never ran');
    assert.equal((await kept)[0].row[0], 6);
    await busy;
  });

  test('an item aborted while running rejects at once; an already aborted signal is refused', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, settings, 'm');
    const controller = new AbortController();
    const running = s.submit([item(1)], { signal: controller.signal });
    controller.abort(new Error('client gone'));
    await assert.rejects(running, /client gone/);
    assert.equal(runner.pending, 1, 'the run itself goes on');
    await runner.release();
    await assert.rejects(s.submit([item(1)], { signal: controller.signal }), /client gone/);
  });

  test('the backlog is shared among the runners instead of one runner taking all of it', async () => {
    const runner = new GatedRunner(2);
    const s = new BatchScheduler(runner, 1, { ...settings, maxBatch: 16, maxQueue: 16 }, 'm');
    // Both runners idle: six items at once run as two batches of three.
    const six = s.submit([1, 2, 3, 4, 5, 6].map(item));
    assert.deepEqual(runner.batches, [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    await runner.release();
    // One runner busy, one free: the free one takes its share (half), the rest waits for a runner.
    const busy = s.submit([item(7)]);
    const burst = s.submit([8, 9, 10, 11].map(item));
    assert.deepEqual(runner.batches.slice(2), [[7], [8, 9]]);
    await runner.release();
    assert.deepEqual(runner.batches.slice(4), [[10], [11]]);
    await runner.release();
    const rows = await Promise.all([six, busy, burst]);
    assert.deepEqual(
      rows.flat().map((r) => r.row[0]),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((x) => 2 * x),
    );
  });

  test('runs use every slot; close() fails the queued items and waits for the running ones', async () => {
    const runner = new GatedRunner(2);
    const s = new BatchScheduler(runner, 1, { ...settings, maxBatch: 1 }, 'm');
    const a = s.submit([item(1)]);
    const b = s.submit([item(2)]);
    const c = s.submit([item(3)]);
    assert.equal(runner.pending, 2);
    let closed = false;
    const closing = s.close(() => new Error('unloaded')).then(() => (closed = true));
    await assert.rejects(c, /unloaded/);
    await assert.rejects(s.submit([item(4)]), /unloaded/);
    await tick();
    assert.equal(closed, false, 'two runs still going');
    await runner.release();
    await closing;
    assert.deepEqual((await Promise.all([a, b])).map(([r]) => r.row[0]), [2, 4]);
  });

  test('onReleased fires once, when no run reads the items any more, on every path', async () => {
    const runner = new GatedRunner();
    const s = new BatchScheduler(runner, 1, { ...settings, maxQueue: 3 }, 'm');
    const released: string[] = [];
    const submit = (name: string, xs: number[], signal?: AbortSignal) =>
      s.submit(xs.map(item), { signal, onReleased: () => released.push(name) }).then(
        () => 'ok',
        (err: { code?: string; message: string }) => err.code ?? err.message,
      );
    const controller = new AbortController();
    const abortedRunning = submit('aborted while running', [2], controller.signal);
    const queuedPair = submit('queued pair', [3, 4]);
    const abortedQueued = submit('aborted while queued', [5], controller.signal);
    const refused = submit('refused', [6]);
    assert.deepEqual(runner.batches, [[2]]);
    controller.abort(new Error('gone'));
    assert.equal(await refused, 'QUEUE_FULL');
    assert.equal(await abortedQueued, 'gone');
    assert.equal(await abortedRunning, 'gone');
    assert.deepEqual(released, ['refused', 'aborted while queued'], 'refused and dropped items are released at once; a running one is held until its run ends');
    await runner.release(); // [2] ends; [3, 4] runs
    assert.deepEqual(runner.batches.slice(1), [[3, 4]]);
    assert.deepEqual(released.slice(2), ['aborted while running']);
    await runner.release();
    assert.deepEqual(released.slice(3), ['queued pair']);
    assert.equal(await queuedPair, 'ok');
    // A failing batch holds its items until every one has been run again alone.
    const failing = submit('failing batch-mates', [-1, 7]);
    await runner.release(); // the pair fails
    assert.equal(released.length, 4);
    await runner.release(); // [-1] alone; [7] still to run
    assert.equal(released.length, 4);
    await runner.release();
    assert.equal(released.at(-1), 'failing batch-mates');
    assert.equal(await failing, 'INFERENCE_FAILED');
    // Closing releases what is queued.
    const blocker = submit('blocker', [8]);
    const queued = submit('queued at close', [9]);
    const closing = s.close(() => new Error('unloaded'));
    assert.equal(await queued, 'unloaded');
    assert.equal(released.at(-1), 'queued at close');
    await runner.release();
    await closing;
    assert.equal(await blocker, 'ok');
    assert.deepEqual(released.slice(-2), ['queued at close', 'blocker']);
    assert.equal(await submit('after close', [10]), 'unloaded');
    assert.equal(released.at(-1), 'after close');
  });

  test('items of the wrong size are refused', async () => {
    const s = new BatchScheduler(new GatedRunner(), 2, settings, 'm');
    await assert.rejects(s.submit([item(1)]), { code: 'INPUT_INVALID' });
  });
});
