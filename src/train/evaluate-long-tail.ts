// The per-epoch evaluation of a long-tailed classifier: top-1, class-averaged top-1 and Many /
// Medium / Few accuracy from (flip-averaged) logits, feature compactness and separability, and
// the classifier's norms and head/tail cosines (src/train/metrics/long-tail.ts).
import type { ImageDataset, ImageSplit } from './data/image-dataset.js';
import { accuracy, argmaxRows, classifierOutputs, type ClassifierEvalOptions } from './evaluate-classifier.js';
import { classifierStatistics, featureStatistics, longTailAccuracy, perClassAccuracy, type GroupThresholds } from './metrics/long-tail.js';
import type { Net } from './nets/net.js';
import type { Objective } from './objectives/objective.js';

export interface LongTailEvaluation {
  /** Flat numbers for the epoch's history (accuracies in [0, 1]). */
  metrics: Record<string, number>;
  /** Accuracy of each class, by label. */
  perClass: number[];
  /** Norm of each class's classifier vector. */
  classifierNorms: number[];
}

/**
 * Evaluates on `split`. The classifier statistics use the objective's raw classifier rows when it
 * has a `classifier.weight` [classes, d] (its logits may normalize them), else the inference head's.
 */
export function evaluateLongTail(
  net: Net,
  objective: Objective,
  dataset: ImageDataset,
  split: ImageSplit,
  classCounts: readonly number[],
  opts: ClassifierEvalOptions & { groups?: GroupThresholds } = {},
): LongTailEvaluation {
  const head = objective.inferenceHead();
  const out = classifierOutputs(net, head, dataset, split, opts);
  const predicted = argmaxRows(out.logits, out.classes);
  const perClass = perClassAccuracy(predicted, split.labels, out.classes);
  const lt = longTailAccuracy(perClass, classCounts, opts.groups);
  const features = featureStatistics(out.features, split.labels, out.classes, out.dim);
  const raw = objective.getWeights()['classifier.weight'];
  const weight = raw ? raw.values : transposed(head.kind === 'linear' ? head.weight : new Float32Array(), out.dim, out.classes);
  const classifier = classifierStatistics(weight, out.classes, out.dim, classCounts, opts.groups);
  const metrics: Record<string, number> = {
    test_accuracy: accuracy(predicted, split.labels),
    class_averaged_accuracy: lt.classAveraged,
    many_accuracy: lt.many,
    medium_accuracy: lt.medium,
    few_accuracy: lt.few,
    compactness: features.compactness,
    separability: features.separability,
    cosine_head_head: classifier.cosineHeadHead,
    cosine_tail_tail: classifier.cosineTailTail,
    cosine_head_tail: classifier.cosineHeadTail,
  };
  // An empty group has no accuracy: leave it out rather than record NaN.
  for (const [k, v] of Object.entries(metrics)) if (Number.isNaN(v)) delete metrics[k];
  return { metrics, perClass, classifierNorms: classifier.norms };
}

/** [rows, cols] row-major -> [cols, rows]. */
function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}
