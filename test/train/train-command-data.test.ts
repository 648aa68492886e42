// `protoserve train` on the data sets users bring: CIFAR files (the fixtures in the real formats)
// and an image folder (real Fashion-MNIST test images written as PNGs), each with its default
// augmentation recorded, a long-tailed subset of the folder, and clear errors for missing or
// misplaced data flags.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import { loadRunDataset } from '../../src/train/data/run-dataset.js';
import type { RunState } from '../../src/train/loop.js';
import { trainCommand } from '../../src/train/train-command.js';
import { quietly } from '../helpers/quietly.js';

const CIFAR = new URL('./data/fixtures/cifar/', import.meta.url).pathname;
const TINY = ['--net', 'resnet8', '--width', '2', '--batch-size', '4', '--epochs', '1', '--max-steps', '1'];

describe('protoserve train on CIFAR files and image folders', () => {
  const dir = mkdtempSync(join(tmpdir(), 'train-data-'));
  const folder = join(dir, 'fashion-folder');
  // 3 classes of real Fashion-MNIST test images, 12 per class, as root/<class>/<n>.png.
  const classes = ['0-tshirt', '1-trouser', '2-pullover'];

  before(async () => {
    const fashion = loadDataset('fashion-mnist');
    const taken = [0, 0, 0];
    for (let i = 0; taken.some((n) => n < 12); i++) {
      const y = fashion.test.labels[i];
      if (y > 2 || taken[y] >= 12) continue;
      mkdirSync(join(folder, classes[y]), { recursive: true });
      const pixels = Buffer.from(fashion.test.images.subarray(i * 784, (i + 1) * 784));
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(folder, classes[y], `${String(taken[y]++).padStart(2, '0')}.png`));
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains on CIFAR-10 files with crops of 4 and flips', async () => {
    const out = join(dir, 'cifar');
    assert.equal(await quietly(() => trainCommand(['--dataset', 'cifar10', '--data', CIFAR, ...TINY, '--out', out])), 0);
    const { config, globalStep } = readCheckpoint<RunState>(join(out, 'checkpoint.ckpt')).state;
    assert.equal(globalStep, 1);
    assert.deepEqual([config.data, config.augment, config.evalFlip], [CIFAR, { padding: 4, flip: true }, true]);
  });

  it('reads an image folder into a long-tailed subset: the first n_i images of each class', async () => {
    // Each class: 12 images, the last floor(0.2 * 12) = 2 held out for testing, the first 10 train.
    const lt = await loadRunDataset({ dataset: 'folder', data: folder, imageSize: 16, channels: 1, longTail: { imbalance: 4, profile: 'exp', order: 'reversed', maxPerClass: 8 } });
    const counts = [0, 1, 2].map((c) => lt.train.labels.filter((y) => y === c).length);
    assert.deepEqual(counts, [2, 4, 8], 'int(8 * (1/4)^(i/2)) = 8, 4, 2, reversed');
    assert.deepEqual(lt.classNames, classes);
    assert.deepEqual([lt.height, lt.width, lt.channels], [16, 16, 1]);
    assert.equal(lt.test.count, 6, 'the test split stays whole: floor(0.2 * 12) = 2 per class');
    assert.match(lt.source, /long-tailed training subset: exp profile, imbalance 4, reversed class order, 14 images \(2\/4\/8\)/);
  });

  it('trains on an image folder at --image-size with crops of size/8', async () => {
    const out = join(dir, 'folder-run');
    const args = ['--dataset', 'folder', '--data', folder, '--image-size', '16', '--channels', '1', '--imbalance', '2', ...TINY, '--out', out];
    assert.equal(await quietly(() => trainCommand(args)), 0);
    const { config } = readCheckpoint<RunState>(join(out, 'checkpoint.ckpt')).state;
    assert.deepEqual([config.imageSize, config.channels, config.augment], [16, 1, { padding: 2, flip: true }]);
    assert.deepEqual(config.longTail, { imbalance: 2, profile: 'exp', order: 'index' });
  });

  it('says which data flag is missing or misplaced', async () => {
    const train = (...args: string[]) => quietly(() => trainCommand([...args, ...TINY, '--out', join(dir, 'never')]));
    await assert.rejects(train('--dataset', 'cifar100'), /cifar100 needs --data DIR/);
    await assert.rejects(train('--dataset', 'folder', '--data', folder), /folder datasets need --image-size N/);
    await assert.rejects(train('--dataset', 'fashion-mnist', '--data', folder), /--data applies to cifar10, cifar100 and folder/);
    await assert.rejects(train('--dataset', 'mnist', '--image-size', '16'), /apply to --dataset folder only/);
    await assert.rejects(train('--dataset', 'cifar10', '--data', join(dir, 'nothing-here')), /no CIFAR files in/);
    await assert.rejects(train('--dataset', 'mnist', '--imbalance', '0.5'), /imbalance: expected a number >= 1/);
    await assert.rejects(train('--dataset', 'mnist', '--group-thresholds', '100'), /expected MANY,FEW/);
  });
});
