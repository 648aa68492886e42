// Logit-adjusted cross-entropy (Menon et al., "Long-tail learning via logit adjustment", ICLR
// 2021, the loss form; ./cross-entropy.ts): the softmax-CE baseline with tau * log(prior_c) added
// to the logits during training only, prior_c = n_c / sum n from the run's training counts. The
// exported head is the plain linear classifier: at test time the raw logits decide.
import type * as tf from '@tensorflow/tfjs';
import { logitAdjustedCrossEntropy } from './cross-entropy.js';
import { requireEveryClass } from './class-counts.js';
import { SoftmaxCrossEntropy, type LinearObjectiveOptions } from './softmax-cross-entropy.js';
import { TrainError } from '../train-error.js';

export class LogitAdjustedCrossEntropy extends SoftmaxCrossEntropy {
  override readonly name = 'logit-adjusted-ce';
  override readonly hyperparameters: { tau: number };
  private readonly classCounts: readonly number[];

  constructor(opts: LinearObjectiveOptions & { classCounts: readonly number[] }, { tau = 1 }: { tau?: number } = {}) {
    super(opts);
    if (!Number.isFinite(tau)) throw new TrainError('TRAIN_CONFIG_INVALID', `logit-adjusted-ce: tau must be a number, got ${tau}`);
    requireEveryClass('logit-adjusted-ce', opts.classCounts);
    this.hyperparameters = { tau };
    this.classCounts = opts.classCounts;
  }

  protected override criterion(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
    return logitAdjustedCrossEntropy(logits, labels, this.classCounts, this.hyperparameters.tau);
  }
}
