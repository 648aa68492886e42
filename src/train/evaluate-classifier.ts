// Held-out evaluation of a classifier made of a backbone and its objective's inference head
// (the same head that export appends to the graph): its features and logits on a split, with
// logits optionally averaged over each image and its horizontal flip (LOSSES.md, Evaluation).
import * as tf from '@tensorflow/tfjs';
import { BatchMaker } from './data/batches.js';
import type { ImageDataset, ImageSplit } from './data/image-dataset.js';
import type { Net } from './nets/net.js';
import type { InferenceHead } from './objectives/objective.js';
import { InvariantError } from '../errors.js';

type LinearHead = Extract<InferenceHead, { kind: 'linear' }>;

/** Logits x W + b of a linear inference head. */
export function headLogits(head: LinearHead, features: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.matMul(features, tf.tensor2d(head.weight, [features.shape[1], head.classes])), tf.tensor1d(head.bias)));
}

export interface ClassifierOutputs {
  count: number;
  /** Backbone features of the images as they are, row-major [count, dim]. */
  features: Float32Array;
  dim: number;
  /** Logits, row-major [count, classes] (flip-averaged when asked). */
  logits: Float32Array;
  classes: number;
}

export interface ClassifierEvalOptions {
  /** Average the logits of each image and its horizontal flip. */
  flip?: boolean;
  batchSize?: number;
}

export function classifierOutputs(net: Net, head: InferenceHead, dataset: ImageDataset, split: ImageSplit, opts: ClassifierEvalOptions = {}): ClassifierOutputs {
  if (head.kind !== 'linear') throw new InvariantError(`classifier evaluation needs a classifier head, got ${head.kind}`);
  const maker = new BatchMaker(dataset);
  const { height, width, channels } = dataset;
  const dim = net.outputDim;
  const features = new Float32Array(split.count * dim);
  const logits = new Float32Array(split.count * head.classes);
  let at = 0;
  for (const batch of maker.sequential(split, opts.batchSize ?? 256)) {
    const [f, z] = tf.tidy(() => {
      const x = tf.tensor4d(batch.pixels, [batch.size, height, width, channels]);
      const feats = net.apply(x, false);
      const direct = headLogits(head, feats);
      const out = opts.flip ? tf.div(tf.add(direct, headLogits(head, net.apply(tf.reverse(x, 2), false))), 2) : direct;
      return [feats, out];
    });
    features.set(f.dataSync(), at * dim);
    logits.set(z.dataSync(), at * head.classes);
    tf.dispose([f, z]);
    at += batch.size;
  }
  return { count: split.count, features, dim, logits, classes: head.classes };
}

/** The index of the largest value of each row of a row-major [rows, width] array. */
export function argmaxRows(values: Float32Array, width: number): Int32Array {
  const out = new Int32Array(values.length / width);
  for (let r = 0; r < out.length; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (values[r * width + c] > values[r * width + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** The predicted class of every image of `split`, in order. */
export function predictClasses(net: Net, head: InferenceHead, dataset: ImageDataset, split: ImageSplit, opts: ClassifierEvalOptions = {}): Int32Array {
  const { logits, classes } = classifierOutputs(net, head, dataset, split, opts);
  return argmaxRows(logits, classes);
}

/** Top-1 accuracy: the fraction of images whose predicted class is their label. */
export function accuracy(predicted: Int32Array, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / predicted.length;
}
