// Held-out accuracy of a classifier made of a backbone and its objective's inference head
// (the same head that export appends to the graph).
import * as tf from '@tensorflow/tfjs';
import { BatchMaker } from './data/batches.js';
import type { ImageDataset, ImageSplit } from './data/image-dataset.js';
import type { Net } from './nets/net.js';
import type { InferenceHead } from './objectives/objective.js';

/** Logits x W + b of a linear inference head. */
export function headLogits(head: Extract<InferenceHead, { kind: 'linear' }>, features: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.matMul(features, tf.tensor2d(head.weight, [features.shape[1], head.classes])), tf.tensor1d(head.bias)));
}

/** The predicted class of every image of `split`, in order. */
export function predictClasses(net: Net, head: InferenceHead, dataset: ImageDataset, split: ImageSplit, batchSize = 256): Int32Array {
  if (head.kind !== 'linear') throw new Error(`predictClasses needs a classifier head, got ${head.kind}`);
  const maker = new BatchMaker(dataset);
  const { height, width, channels } = dataset;
  const out = new Int32Array(split.count);
  let at = 0;
  for (const batch of maker.sequential(split, batchSize)) {
    const predicted = tf.tidy(() => headLogits(head, net.apply(tf.tensor4d(batch.pixels, [batch.size, height, width, channels]), false)).argMax(1));
    out.set(predicted.dataSync(), at);
    predicted.dispose();
    at += batch.size;
  }
  return out;
}

/** Top-1 accuracy: the fraction of images whose predicted class is their label. */
export function accuracy(predicted: Int32Array, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / predicted.length;
}
