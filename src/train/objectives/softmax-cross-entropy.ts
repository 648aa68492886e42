// Baseline objective: a linear classifier trained with softmax cross-entropy,
// L = -1/B sum_i log softmax(z_i)[y_i], computed stably as logsumexp(z_i) - z_i[y_i].
import type * as tf from '@tensorflow/tfjs';
import { softmaxCrossEntropy } from './cross-entropy.js';
import { LinearClassifier } from './linear-classifier.js';
import { singleView, type InferenceHead, type Objective, type PreparedStep, type StageSpec, type StepLoss, type StepTensors } from './objective.js';
import type { Batch } from '../data/batches.js';
import type { NamedWeights } from '../nets/net.js';
import { VariableSet } from './variable-set.js';

export interface LinearObjectiveOptions {
  /** Feature dimension of the backbone. */
  features: number;
  classes: number;
  /** Seed of the head's initial weights. */
  seed: number;
}

export class SoftmaxCrossEntropy implements Objective {
  readonly name: string = 'softmax-ce';
  readonly task = 'classifier';
  readonly stages: readonly StageSpec[] = [{ name: 'train', trainBackbone: true }];
  private readonly vars = new VariableSet('softmax-ce');
  private readonly head: LinearClassifier;

  readonly hyperparameters: Record<string, number> = {};

  constructor(opts: LinearObjectiveOptions) {
    this.head = new LinearClassifier(this.vars, opts.features, opts.classes, opts.seed);
  }

  trainableVariables(): tf.Variable[] {
    return this.vars.trainable();
  }

  getWeights(): NamedWeights {
    return this.vars.getWeights();
  }

  setWeights(weights: NamedWeights): void {
    this.vars.setWeights(weights);
  }

  prepare(batch: Batch): PreparedStep {
    return singleView(batch);
  }

  loss(step: StepTensors): StepLoss {
    return { loss: this.criterion(this.head.logits(step.features[0]), step.labelValues), terms: {}, updates: [] };
  }

  /** The loss of the logits (subclasses adjust it, e.g. logit adjustment). */
  protected criterion(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
    return softmaxCrossEntropy(logits, labels);
  }

  inferenceHead(): InferenceHead {
    return this.head.inferenceHead();
  }

  dispose(): void {
    this.vars.dispose();
  }
}
