// The contract every trainable network satisfies: a backbone, or a backbone with a head.
// One description of the network drives both the tfjs forward pass (training) and the ONNX
// lowering (export), so the two cannot drift apart.
import type * as tf from '@tensorflow/tfjs';
import type { NetGraph } from './net-graph.js';

/** Weights by stable name, as stored in checkpoints. */
export type NamedWeights = Record<string, { shape: number[]; values: Float32Array }>;

export interface Net {
  /** e.g. 'resnet8', 'mobilefacenet', 'iresnet50', or 'resnet8+linear10'. */
  readonly name: string;
  /** Input as tfjs sees it: [height, width, channels] (NHWC). */
  readonly inputShape: [number, number, number];
  /** Size of the output vector (feature dimension, or number of classes with a head). */
  readonly outputDim: number;
  /**
   * The layer graph this net interprets; the ONNX exporter lowers the same description
   * (src/train/nets/net-graph.ts), with the values of getWeights().
   */
  readonly graph: NetGraph;
  /**
   * Forward pass on NHWC float32 input. training=true uses batch statistics in batch norm and
   * updates its moving averages; false uses the moving averages.
   */
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  /** Every parameter by stable name, batch-norm moving statistics included (copies). */
  getWeights(): NamedWeights;
  /** The inverse of getWeights(); throws NetError WEIGHTS_MISMATCH on missing/unknown/misshaped names. */
  setWeights(weights: NamedWeights): void;
  dispose(): void;
}
