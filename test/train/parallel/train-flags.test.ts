// `protoserve train --accumulate / --workers`: the flags are checked before anything runs, and
// the help says what batch norm and the stateful objectives see.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { trainCommand } from '../../../src/train/train-command.js';

describe('train --accumulate / --workers flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'train-flags-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const out = (name: string) => ['--out', join(dir, name)];

  it('refuses values that cannot split the batch, alone or together', async () => {
    await assert.rejects(trainCommand(['--accumulate', '0', ...out('a')]), /accumulate: expected a positive integer, got 0/);
    await assert.rejects(trainCommand(['--batch-size', '4', '--accumulate', '8', ...out('b')]), /8 micro-batches cannot split a batch of 4/);
    await assert.rejects(trainCommand(['--batch-size', '4', '--workers', '5', ...out('c')]), /5 workers cannot split a batch of 4/);
    await assert.rejects(trainCommand(['--batch-size', '4', '--workers', '2', '--accumulate', '3', ...out('d')]), /2 workers of 3 micro-batches each cannot split a batch of 4/);
  });

  it('says in --help what batch norm and whole-batch buffers see', async () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (s: string) => lines.push(s);
    try {
      assert.equal(await trainCommand(['--help']), 0);
    } finally {
      console.log = log;
    }
    const help = lines.join('\n').replace(/\s+/g, ' ');
    assert.match(help, /--accumulate N .*Batch norm normalizes each micro-batch with its own statistics/);
    assert.match(help, /--workers N .*Batch norm uses each shard's statistics \(per-shard, not synchronized\)/);
    assert.match(help, /see the whole batch/);
  });
});
