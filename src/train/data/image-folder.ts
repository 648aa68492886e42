// An image folder as an in-memory ImageDataset at a fixed size:
//   root/train/<class>/*.png|jpg and root/test/<class>/... (or root/val/...), or
//   root/<class>/*.png|jpg, split per class: the first images (sorted by name) train, the last
//   floor(testFraction * n) test, so a long-tailed subset's "first n_i images" are training ones.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { channelMeanStd } from './channel-stats.js';
import { listClassFolders } from './class-folders.js';
import { decodeImage, type ImageShape } from './decode-image.js';
import type { ImageDataset, ImageSplit } from './image-dataset.js';
import { TrainError } from '../train-error.js';

export interface ImageFolderOptions extends ImageShape {
  /** Share of each class held out for testing when the folder has no train/test split. */
  testFraction?: number;
  /** Images decoded at once. */
  concurrency?: number;
}

async function decodeAll(files: { path: string; label: number }[], shape: ImageShape, concurrency: number): Promise<ImageSplit> {
  const size = shape.height * shape.width * shape.channels;
  const images = new Uint8Array(files.length * size);
  for (let start = 0; start < files.length; start += concurrency) {
    const chunk = files.slice(start, start + concurrency);
    const decoded = await Promise.all(chunk.map(async (f) => {
      try {
        return await decodeImage(f.path, shape);
      } catch (error) {
        throw new TrainError('TRAINING_DATA_INVALID', `${f.path}: cannot decode the image (${(error as Error).message})`);
      }
    }));
    decoded.forEach((pixels, i) => images.set(pixels, (start + i) * size));
  }
  return { images, labels: Int32Array.from(files, (f) => f.label), count: files.length };
}

export async function loadImageFolder(root: string, options: ImageFolderOptions): Promise<ImageDataset> {
  const { testFraction = 0.2, concurrency = 8 } = options;
  const shape: ImageShape = { height: options.height, width: options.width, channels: options.channels };
  const testDir = ['test', 'val'].map((d) => join(root, d)).find((d) => existsSync(d));
  let classNames: string[];
  let trainFiles: { path: string; label: number }[];
  let testFiles: { path: string; label: number }[];
  if (existsSync(join(root, 'train')) && testDir) {
    const train = listClassFolders(join(root, 'train'));
    const test = listClassFolders(testDir);
    classNames = train.classNames;
    const unknown = test.classNames.find((c) => !classNames.includes(c));
    if (unknown) throw new TrainError('TRAINING_DATA_INVALID', `${testDir}/${unknown}: a class the training folder does not have`);
    trainFiles = train.files.flatMap((files, label) => files.map((path) => ({ path, label })));
    testFiles = test.files.flatMap((files, i) => files.map((path) => ({ path, label: classNames.indexOf(test.classNames[i]) })));
  } else {
    if (!(testFraction >= 0 && testFraction < 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `testFraction must be in [0, 1), got ${testFraction}`);
    const all = listClassFolders(root);
    classNames = all.classNames;
    trainFiles = [];
    testFiles = [];
    all.files.forEach((files, label) => {
      const held = Math.floor(testFraction * files.length);
      files.forEach((path, i) => (i < files.length - held ? trainFiles : testFiles).push({ path, label }));
    });
  }
  const train = await decodeAll(trainFiles, shape, concurrency);
  const test = await decodeAll(testFiles, shape, concurrency);
  return {
    name: basename(root),
    ...shape,
    classNames,
    ...channelMeanStd(train.images, shape.channels),
    train,
    test,
    source: `${root} (image folder, ${classNames.length} classes, ${train.count}/${test.count}, decoded at ${shape.width}x${shape.height}x${shape.channels})`,
  };
}
