// Verification of an embedder on held-out pairs, with the evaluator's metric functions
// (src/eval/lfw.ts, src/eval/roc.ts; the trainer does not depend on the eval command):
//   features  f(img) + f(horizontal flip of img) (PROTOCOLS.md's flip test), in eval mode;
//   accuracy  LFW's 10-fold protocol on the squared L2 distance of the normalized features
//             (mean and std over the folds);
//   TAR@FAR   on the cosine similarities of all pairs, scikit-learn's ROC and the point whose
//             FAR is nearest the target (ijb_11.py's rule).
import * as tf from '@tensorflow/tfjs';
import { evaluateLfwDistances, lfwDistances } from '../eval/lfw.js';
import { pythonFloatLabel, rocCurve, tprAtFpr } from '../eval/roc.js';
import { BatchMaker, type PixelFormat } from './data/batches.js';
import type { VerificationSet } from './data/verification-set.js';
import type { Net } from './nets/net.js';
import { TrainError } from './train-error.js';

/**
 * Features f(img) + f(flip(img)) (or f(img) with flip false), not normalized, row-major
 * [count, net.outputDim], from uint8 NHWC images.
 */
export function embedImages(net: Net, format: PixelFormat, images: Uint8Array, count: number, { flip = true, batchSize = 64 } = {}): Float32Array {
  const maker = new BatchMaker(format);
  const [h, w, c] = net.inputShape;
  if (format.height !== h || format.width !== w || format.channels !== c) {
    throw new TrainError('TRAINING_DATA_INVALID', `images are ${format.height}x${format.width}x${format.channels}, the net takes ${h}x${w}x${c}`);
  }
  const dim = net.outputDim;
  const out = new Float32Array(count * dim);
  const labels = new Int32Array(count);
  for (let start = 0; start < count; start += batchSize) {
    const batch = maker.make({ images, labels, count }, start, batchSize);
    const values = tf.tidy(() => {
      const x = tf.tensor4d(batch.pixels, [batch.size, h, w, c]);
      const f = net.apply(x, false);
      return (flip ? tf.add(f, net.apply(tf.reverse(x, 2), false)) : f).dataSync<'float32'>();
    });
    out.set(values, start * dim);
  }
  return out;
}

export interface VerificationResult {
  pairs: number;
  /** Mean and std of the fold accuracies. */
  accuracy: number;
  accuracyStd: number;
  /** TAR at `far` (the nearest ROC point's). */
  tar: number;
  far: number;
}

/** The protocol on features of the set's images (one row per image). */
export function scoreVerification(features: Float32Array, dim: number, set: Pick<VerificationSet, 'first' | 'second' | 'same' | 'folds'>, far: number): VerificationResult {
  const n = set.same.length;
  const a = new Float64Array(n * dim);
  const b = new Float64Array(n * dim);
  for (let k = 0; k < n; k++) {
    a.set(features.subarray(set.first[k] * dim, (set.first[k] + 1) * dim), k * dim);
    b.set(features.subarray(set.second[k] * dim, (set.second[k] + 1) * dim), k * dim);
  }
  const distances = lfwDistances(a, b, dim);
  const lfw = evaluateLfwDistances(distances, set.same, set.folds);
  // Cosine similarity of unit vectors from their squared distance: 1 - d / 2.
  const roc = rocCurve(Array.from(set.same, Number), Float64Array.from(distances, (d) => 1 - d / 2));
  return { pairs: n, accuracy: lfw.accuracy.mean, accuracyStd: lfw.accuracy.std, tar: tprAtFpr(roc, [far])[0], far };
}

/** The metric names a validation adds to each epoch's record. */
export function verificationMetrics(r: VerificationResult, prefix = 'val'): Record<string, number> {
  return { [`${prefix}_accuracy`]: r.accuracy, [`${prefix}_accuracy_std`]: r.accuracyStd, [`${prefix}_tar@far=${pythonFloatLabel(r.far)}`]: r.tar };
}

export function evaluateVerification(net: Net, format: Pick<PixelFormat, 'mean' | 'std'>, set: VerificationSet, far: number): VerificationResult {
  const features = embedImages(net, { ...format, height: set.height, width: set.width, channels: 3 }, set.images, set.count);
  return scoreVerification(features, net.outputDim, set, far);
}
