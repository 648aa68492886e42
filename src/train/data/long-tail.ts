// Long-tailed training subsets, the LDAM-DRW convention (Cao et al. 2019, imbalance_cifar.py; the
// BCE3S reference's get_img_num_per_cls / gen_imbalanced_data), deterministic: no randomness, the
// FIRST n_i images of class i in the split's order are kept.
//   exp:  n_i = int(n_max * (1 / IF)^(i / (C - 1)))
//   step: n_i = n_max for the first floor(C / 2) classes, int(n_max / IF) for the rest
// with IF the imbalance ratio (100: the largest class 100 times the smallest) and n_max, by
// default, the split's count divided by C (the reference's img_max = total_num / cls_num).
// order 'reversed' assigns the sizes to the classes in reverse index order (class C-1 largest).
// For odd C the reference's step profile lists only C - 1 sizes and so drops the last class; here
// the second half has ceil(C / 2) classes instead.
import type { ImageSplit } from './image-dataset.js';

export type LongTailProfile = 'exp' | 'step';
export type ClassOrder = 'index' | 'reversed';

export interface LongTailOptions {
  /** Imbalance ratio IF >= 1 (n_max / n_min). */
  imbalance: number;
  profile?: LongTailProfile;
  order?: ClassOrder;
  /** Images of the largest class; default floor(count / C). */
  maxPerClass?: number;
}

export class LongTailError extends Error {
  readonly code = 'LONG_TAIL';
}

/** Images per class, by class index. */
export function longTailCounts(numClasses: number, maxPerClass: number, { imbalance, profile = 'exp', order = 'index' }: LongTailOptions): number[] {
  if (!(imbalance >= 1)) throw new LongTailError(`imbalance must be >= 1 (n_max / n_min), got ${imbalance}`);
  if (!(numClasses >= 2)) throw new LongTailError(`a long-tailed subset needs at least 2 classes, got ${numClasses}`);
  const factor = 1 / imbalance; // the reference's imb_factor (0.01 for IF 100)
  const sizes = Array.from({ length: numClasses }, (_, i) => {
    if (profile === 'exp') return Math.trunc(maxPerClass * factor ** (i / (numClasses - 1)));
    if (profile === 'step') return i < Math.floor(numClasses / 2) ? Math.trunc(maxPerClass) : Math.trunc(maxPerClass * factor);
    throw new LongTailError(`Unsupported profile: "${String(profile)}". Should be one of: exp, step`);
  });
  if (order === 'reversed') sizes.reverse();
  else if (order !== 'index') throw new LongTailError(`Unsupported class order: "${String(order)}". Should be one of: index, reversed`);
  return sizes;
}

/** The subset of `split` with the first n_i images of each class, in the split's order, and n_i. */
export function longTailSubset(
  split: ImageSplit,
  numClasses: number,
  pixelsPerImage: number,
  options: LongTailOptions,
): { split: ImageSplit; classCounts: number[] } {
  const maxPerClass = options.maxPerClass ?? Math.floor(split.count / numClasses);
  const classCounts = longTailCounts(numClasses, maxPerClass, options);
  const available = new Array<number>(numClasses).fill(0);
  for (const y of split.labels) available[y]++;
  const short = classCounts.findIndex((n, c) => n > available[c]);
  if (short >= 0) {
    throw new LongTailError(`class ${short} has ${available[short]} images, the long-tailed subset needs ${classCounts[short]}; lower maxPerClass`);
  }
  const taken = new Array<number>(numClasses).fill(0);
  const keep: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const y = split.labels[i];
    if (taken[y] < classCounts[y]) {
      taken[y]++;
      keep.push(i);
    }
  }
  const images = new Uint8Array(keep.length * pixelsPerImage);
  keep.forEach((src, dst) => images.set(split.images.subarray(src * pixelsPerImage, (src + 1) * pixelsPerImage), dst * pixelsPerImage));
  return { split: { images, labels: Int32Array.from(keep, (i) => split.labels[i]), count: keep.length }, classCounts };
}
