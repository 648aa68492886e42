// Writes real MNIST (or Fashion-MNIST) test images as PNG files, named <index>-<label>.png,
// to try the server with: npx tsx scripts/mnist-samples.ts [--dataset mnist] [--count 10] [--out samples]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadDataset } from '../src/train/data/datasets.js';
import type { ImageDataset } from '../src/train/data/image-dataset.js';

/** PNG bytes of test image `index`, and its class name. */
export async function testImagePng(dataset: ImageDataset, index: number): Promise<{ png: Buffer; label: string }> {
  const { height, width, channels } = dataset;
  const size = height * width * channels;
  const pixels = dataset.test.images.subarray(index * size, (index + 1) * size);
  const png = await sharp(Buffer.from(pixels), { raw: { width, height, channels: channels as 1 } }).png().toBuffer();
  return { png, label: dataset.classNames[dataset.test.labels[index]] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dataset: { type: 'string', default: 'mnist' }, count: { type: 'string', default: '10' }, out: { type: 'string', default: 'samples' } },
  });
  const count = Number(values.count);
  mkdirSync(values.out, { recursive: true });
  const dataset = loadDataset(values.dataset);
  for (let i = 0; i < count; i++) {
    const { png, label } = await testImagePng(dataset, i);
    const file = join(values.out, `${i}-${label.replace(/[^A-Za-z0-9]+/g, '_')}.png`);
    writeFileSync(file, png);
    console.log(file);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
