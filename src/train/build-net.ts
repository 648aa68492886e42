// The network a run configuration describes, built the same way by `train` and `export`.
import type { ImageDataset } from './data/image-dataset.js';
import { buildClassifierNet } from './nets/classifier.js';
import type { GraphNet } from './nets/graph-net.js';
import type { RunConfig } from './run-config.js';

export function buildClassifier(config: RunConfig, dataset: Pick<ImageDataset, 'height' | 'width' | 'channels' | 'classNames'>): GraphNet {
  return buildClassifierNet(config.net, dataset.classNames.length, {
    inputShape: [dataset.height, dataset.width, dataset.channels],
    width: config.width,
    seed: config.seed,
  });
}
