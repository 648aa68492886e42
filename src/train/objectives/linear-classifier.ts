// A linear classifier head, z = x W^T + b, with W in R^{C x d} (one row per class, PyTorch's
// nn.Linear layout) and b in R^C: the trainable head of the softmax cross-entropy baselines.
import * as tf from '@tensorflow/tfjs';
import { normalArray, streamSeed } from '../../seeded-random.js';
import type { InferenceHead } from './objective.js';
import type { VariableSet } from './variable-set.js';

export class LinearClassifier {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  /** Adds `<prefix>.weight` (He-normal, std sqrt(2/d)) and `<prefix>.bias` (zeros) to `vars`. */
  constructor(vars: VariableSet, readonly features: number, readonly classes: number, seed: number, prefix = 'classifier') {
    const name = `${prefix}.weight`;
    this.weight = vars.add(name, [classes, features], normalArray(classes * features, Math.sqrt(2 / features), streamSeed(seed, name)), true);
    this.bias = vars.add(`${prefix}.bias`, [classes], new Float32Array(classes), true);
  }

  logits(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.weight as tf.Tensor2D, false, true), this.bias);
  }

  inferenceHead(): InferenceHead {
    const weight = tf.tidy(() => tf.transpose(this.weight).dataSync<'float32'>().slice());
    return { kind: 'linear', weight, bias: this.bias.dataSync<'float32'>().slice(), classes: this.classes };
  }
}
