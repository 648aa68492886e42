// What long-tailed recognition reports (BCE3S, LOSSES.md "Evaluation"): class-averaged top-1,
// the same over the Many (> 100 training images), Medium (20..100) and Few (< 20) classes, and
// the feature and classifier statistics the paper argues with: intra-class compactness (mean
// cosine of features to their class mean), inter-class separability (mean cosine between class
// means; lower is more separable), classifier-vector norms, and the mean pairwise cosine of
// classifier vectors within the head (Many) classes, within the tail (Few) classes and between
// the two. Plain arrays in, numbers out.

export type ClassGroup = 'many' | 'medium' | 'few';

/** Many: more than `many` training images; Few: fewer than `few`; Medium: the rest. */
export interface GroupThresholds {
  many: number;
  few: number;
}

/** The convention of CIFAR-100-LT and ImageNet-LT (LOSSES.md): Many > 100, Medium 20..100, Few < 20. */
export const DEFAULT_GROUP_THRESHOLDS: Readonly<GroupThresholds> = { many: 100, few: 20 };

/** The group of a class by its number of training images, under `thresholds`. */
export function classGrouping(thresholds: GroupThresholds = DEFAULT_GROUP_THRESHOLDS): (trainingImages: number) => ClassGroup {
  return (n) => (n > thresholds.many ? 'many' : n >= thresholds.few ? 'medium' : 'few');
}

/** The group of a class by its number of training images (the default thresholds). */
export const classGroup = classGrouping();

/** Accuracy of each class (NaN for a class with no test image). */
export function perClassAccuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number[] {
  const right = new Array<number>(classes).fill(0);
  const total = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    total[labels[i]]++;
    if (predicted[i] === labels[i]) right[labels[i]]++;
  }
  return right.map((r, c) => (total[c] > 0 ? r / total[c] : NaN));
}

function mean(values: readonly number[]): number {
  const present = values.filter((v) => !Number.isNaN(v));
  return present.length > 0 ? present.reduce((a, b) => a + b, 0) / present.length : NaN;
}

export interface LongTailAccuracy {
  /** Mean of the per-class accuracies (classes without test images left out). */
  classAveraged: number;
  /** The same over each group's classes; NaN for an empty group. */
  many: number;
  medium: number;
  few: number;
}

export function longTailAccuracy(perClass: readonly number[], classCounts: readonly number[], thresholds?: GroupThresholds): LongTailAccuracy {
  const group = classGrouping(thresholds);
  const of = (g: ClassGroup) => mean(perClass.filter((_, c) => group(classCounts[c]) === g));
  return { classAveraged: mean(perClass), many: of('many'), medium: of('medium'), few: of('few') };
}

function cosine(a: Float64Array, b: Float64Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.max(Math.sqrt(aa) * Math.sqrt(bb), 1e-12);
}

function rows(values: ArrayLike<number>, count: number, dim: number): Float64Array[] {
  return Array.from({ length: count }, (_, r) => Float64Array.from({ length: dim }, (_, k) => values[r * dim + k]));
}

/** Mean cosine over the pairs (i, j), i < j, of `a` (or over all pairs of a x b when `b` is given). */
function meanPairwiseCosine(a: Float64Array[], b?: Float64Array[]): number {
  const values: number[] = [];
  if (b) for (const u of a) for (const v of b) values.push(cosine(u, v));
  else for (let i = 0; i < a.length; i++) for (let j = i + 1; j < a.length; j++) values.push(cosine(a[i], a[j]));
  return mean(values);
}

export interface FeatureStatistics {
  /** Class-averaged mean cosine of each feature to its class mean (higher: more compact). */
  compactness: number;
  /** Mean cosine between the means of two different classes (lower: more separable). */
  separability: number;
}

/** `features` row-major [n, dim]; classes with no sample are left out. */
export function featureStatistics(features: ArrayLike<number>, labels: ArrayLike<number>, classes: number, dim: number): FeatureStatistics {
  const all = rows(features, labels.length, dim);
  const sums = Array.from({ length: classes }, () => new Float64Array(dim));
  const counts = new Array<number>(classes).fill(0);
  all.forEach((f, i) => {
    counts[labels[i]]++;
    for (let k = 0; k < dim; k++) sums[labels[i]][k] += f[k];
  });
  const means = sums.map((s, c) => s.map((v) => v / Math.max(counts[c], 1)));
  const perClass = new Array<number>(classes).fill(0);
  all.forEach((f, i) => (perClass[labels[i]] += cosine(f, means[labels[i]]) / counts[labels[i]]));
  const present = means.filter((_, c) => counts[c] > 0);
  return { compactness: mean(perClass.filter((_, c) => counts[c] > 0)), separability: meanPairwiseCosine(present) };
}

export interface ClassifierStatistics {
  /** ||w_c|| for every class. */
  norms: number[];
  /** Mean pairwise cosine of the classifier vectors within the Many classes, within the Few, and between them. */
  cosineHeadHead: number;
  cosineTailTail: number;
  cosineHeadTail: number;
}

/** `weight` row-major [classes, dim], one classifier vector per class. */
export function classifierStatistics(
  weight: ArrayLike<number>, classes: number, dim: number, classCounts: readonly number[], thresholds?: GroupThresholds,
): ClassifierStatistics {
  const w = rows(weight, classes, dim);
  const group = classGrouping(thresholds);
  const head = w.filter((_, c) => group(classCounts[c]) === 'many');
  const tail = w.filter((_, c) => group(classCounts[c]) === 'few');
  return {
    norms: w.map((v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0))),
    cosineHeadHead: meanPairwiseCosine(head),
    cosineTailTail: meanPairwiseCosine(tail),
    cosineHeadTail: head.length && tail.length ? meanPairwiseCosine(head, tail) : NaN,
  };
}
