// Partial negatives of BCE3S (LOSSES.md, "Joint learning"; the authors' head.py): keep every class
// present in the batch plus random other classes, int(r * C) classes in all.
//
// The reference scores the classes with a random permutation of 0..C-1, sets the scores of the
// present classes to 0 and keeps the k = int(r * C) smallest (torch.topk(largest=False)), then
// sorts the kept indices. The present classes tie at 0 with the one absent class that drew 0.
// The permutation is an argument here, so the selection is a deterministic function that the
// caller seeds.
//
// Ties: when the present classes plus that absent class number more than k (always the case
// when more than k classes are present), topk's tie order decides which zero-scored classes are
// kept; torch does not specify it. Here ties are broken by class index (lower index kept), so
// some present classes are dropped, as in the reference, and which ones is reproducible.
import { TrainError } from '../train-error.js';
import { InvariantError } from '../../errors.js';

/** The number of classes kept: int(r * C). */
export function partialClassCount(numClasses: number, r: number): number {
  const k = Math.trunc(r * numClasses);
  if (!(k >= 1 && k <= numClasses)) {
    throw new TrainError('TRAIN_CONFIG_INVALID', `partial negatives: int(r * C) = int(${r} * ${numClasses}) = ${k} classes; it must be in 1..${numClasses} (0 < r <= 1)`);
  }
  return k;
}

/**
 * The kept class indices, ascending.
 * @param labels the batch's labels (the original view)
 * @param classScores a permutation of 0..C-1 (the reference's torch.randperm(C))
 */
export function partialClassIndices(
  labels: ArrayLike<number>,
  numClasses: number,
  r: number,
  classScores: ArrayLike<number>,
): Int32Array {
  if (classScores.length !== numClasses) {
    throw new InvariantError(`partial negatives: ${classScores.length} class scores for ${numClasses} classes`);
  }
  const k = partialClassCount(numClasses, r);
  const scores = Float64Array.from(classScores);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) throw new InvariantError(`label ${y} is not a class of 0..${numClasses - 1}`);
    scores[y] = 0;
  }
  const order = Array.from({ length: numClasses }, (_, c) => c);
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  return Int32Array.from(order.slice(0, k)).sort();
}

/** The same selection as a 0/1 mask over the C classes. */
export function partialClassMask(
  labels: ArrayLike<number>,
  numClasses: number,
  r: number,
  classScores: ArrayLike<number>,
): Float32Array {
  const mask = new Float32Array(numClasses);
  for (const c of partialClassIndices(labels, numClasses, r, classScores)) mask[c] = 1;
  return mask;
}
