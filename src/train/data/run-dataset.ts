// The images a training run configuration describes, loaded the same way by `train`, `export`
// and the benchmarks: a packaged set (MNIST, Fashion-MNIST), CIFAR-10/100 or an image folder from
// the user's files, with the training split replaced by its long-tailed subset when the run
// asks for one (the test split stays whole and balanced, as in the LDAM-DRW / BCE3S protocol).
import { loadCifar } from './cifar.js';
import { DATASET_NAMES, loadDataset } from './datasets.js';
import type { ImageDataset } from './image-dataset.js';
import { loadImageFolder } from './image-folder.js';
import { longTailSubset, type ClassOrder, type LongTailProfile } from './long-tail.js';
import type { CropFlipOptions } from './random-crop-flip.js';
import { TrainError } from '../train-error.js';

/** The data sets whose files the user brings (`protoserve train --data DIR`). */
export const CLASSIFIER_DATA_SETS = ['cifar10', 'cifar100', 'folder'];

/** What `protoserve train --dataset` accepts. */
export const TRAIN_DATASET_NAMES = [...DATASET_NAMES, ...CLASSIFIER_DATA_SETS];

export interface RunDataSettings {
  dataset: string;
  data?: string;
  imageSize?: number;
  channels?: 1 | 3;
  longTail?: { imbalance: number; profile: LongTailProfile; order: ClassOrder; maxPerClass?: number };
}

export async function loadRunDataset(c: RunDataSettings): Promise<ImageDataset> {
  const full = await loadWhole(c);
  if (!c.longTail) return full;
  const { imbalance, profile, order, maxPerClass } = c.longTail;
  const { split, classCounts } = longTailSubset(full.train, full.classNames.length, full.height * full.width * full.channels, { imbalance, profile, order, maxPerClass });
  return {
    ...full,
    train: split,
    source: `${full.source}; long-tailed training subset: ${profile} profile, imbalance ${imbalance}, ${order} class order, ` +
      `${split.count} images (${classCounts.join('/')})`,
  };
}

async function loadWhole(c: RunDataSettings): Promise<ImageDataset> {
  switch (c.dataset) {
    case 'cifar10':
    case 'cifar100':
      return loadCifar(required(c.data, c.dataset), { variant: c.dataset });
    case 'folder':
      return loadImageFolder(required(c.data, c.dataset), { height: c.imageSize!, width: c.imageSize!, channels: c.channels ?? 3 });
    default:
      return loadDataset(c.dataset);
  }
}

function required(dir: string | undefined, dataset: string): string {
  if (!dir) throw new TrainError('TRAIN_USAGE', `${dataset}: --data DIR is required (the folder holding the data set's files)`);
  return dir;
}

/**
 * The training augmentation a data set gets unless told otherwise: random crops after zero
 * padding (4 pixels on CIFAR's 32, as the BCE3S reference; 2 on the 28-pixel sets; 1/8 of the
 * side on image folders) and horizontal flips, except for digits, whose mirror images are other
 * symbols.
 */
export function defaultAugmentation(dataset: string, imageSize?: number): CropFlipOptions {
  switch (dataset) {
    case 'mnist':
      return { padding: 2, flip: false };
    case 'fashion-mnist':
      return { padding: 2, flip: true };
    case 'folder':
      return { padding: Math.round((imageSize ?? 32) / 8), flip: true };
    default:
      return { padding: 4, flip: true };
  }
}
