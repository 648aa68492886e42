// The backbone and the objective a run configuration describes, built the same way by `train`,
// `export` and the tests; and the inference network (backbone + the objective's inference head)
// that export lowers and that held-out evaluation runs.
import { pixelsPerImage, takeSplit, type ImageDataset } from './data/image-dataset.js';
import { classifierOn } from './nets/classifier.js';
import type { GraphNet } from './nets/graph-net.js';
import { buildBackbone } from './nets/registry.js';
import type { InferenceHead, Objective } from './objectives/objective.js';
import { buildObjective } from './objectives/registry.js';
import type { RunConfig } from './run-config.js';

export interface RunModels {
  backbone: GraphNet;
  objective: Objective;
}

/** Training images per class of the run's training split. */
export function classCounts(config: Pick<RunConfig, 'trainLimit'>, dataset: ImageDataset): number[] {
  const split = config.trainLimit ? takeSplit(dataset.train, config.trainLimit, pixelsPerImage(dataset)) : dataset.train;
  const counts = new Array<number>(dataset.classNames.length).fill(0);
  for (const y of split.labels) counts[y]++;
  return counts;
}

/** What the models of a run are built for: the input, and the training classes (identities). */
export interface RunShape {
  inputShape: [number, number, number];
  classCounts: readonly number[];
}

export function buildRunModels(config: RunConfig, dataset: ImageDataset): RunModels {
  return buildModels(config, { inputShape: [dataset.height, dataset.width, dataset.channels], classCounts: classCounts(config, dataset) });
}

export function buildModels(config: RunConfig, shape: RunShape): RunModels {
  const backbone = buildBackbone(config.net, {
    inputShape: shape.inputShape,
    width: config.width,
    embeddingDim: config.embeddingDim,
    seed: config.seed,
  });
  const objective = buildObjective(
    config.objective,
    {
      features: backbone.outputDim,
      classes: shape.classCounts.length,
      classCounts: shape.classCounts,
      seed: config.seed,
      inputShape: shape.inputShape,
    },
    config.objectiveOptions,
  );
  return { backbone, objective };
}

/**
 * The network a model artifact holds: the backbone followed by the inference head (a dense
 * layer `head` for classifiers, sharing the backbone's variables), and the op export appends.
 * Dispose the returned net and the backbone separately.
 */
export function inferenceNet(backbone: GraphNet, head: InferenceHead): { net: GraphNet; append: 'softmax' | 'l2norm' } {
  if (head.kind === 'l2normalize') return { net: backbone, append: 'l2norm' };
  const net = classifierOn(backbone, head.classes);
  net.setWeights(
    {
      'head.weight': { shape: [backbone.outputDim, head.classes], values: head.weight },
      'head.bias': { shape: [head.classes], values: head.bias },
    },
    { partial: true },
  );
  return { net, append: 'softmax' };
}
