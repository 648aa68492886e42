// The stage optimizer against PyTorch's update rules worked out by hand, and the learning-rate
// schedule against the values LOSSES.md states for the BCE3S reference.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { StageOptimizer, type OptimizerConfig } from '../../src/train/optimizer.js';
import { learningRateAt } from '../../src/train/schedule.js';

const SGD: OptimizerConfig = { optimizer: 'sgd', learningRate: 0.1, momentum: 0.9, weightDecay: 0, clipGradNorm: 0 };

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}] ${actual[i]} vs ${expected[i]}`);
}

describe('stage optimizer', () => {
  it('SGD with momentum and coupled weight decay follows torch.optim.SGD', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const opt = new StageOptimizer({ ...SGD, weightDecay: 0.1 }, { backbone: [w], head: [] });
    const g = tf.tensor1d([0.5, 0.5]);
    // d = g + wd w; buf = 0.9 buf + d; w -= lr buf.  Step 1: d = [0.6, 0.3] -> w = [0.94, -2.03].
    opt.apply({ [w.name]: g });
    close(w.dataSync(), [0.94, -2.03]);
    // Step 2: d = [0.594, 0.297], buf = [1.134, 0.567] -> w = [0.8266, -2.0867].
    opt.apply({ [w.name]: g });
    close(w.dataSync(), [0.8266, -2.0867]);
    opt.dispose();
    tf.dispose([w, g]);
  });

  it('clips the backbone and the head gradients each to their own norm', () => {
    const a = tf.variable(tf.tensor1d([0, 0]));
    const b = tf.variable(tf.tensor1d([0, 0]));
    const opt = new StageOptimizer({ ...SGD, learningRate: 1, momentum: 0, clipGradNorm: 1 }, { backbone: [a], head: [b] });
    const ga = tf.tensor1d([3, 4]); // norm 5: scaled to norm 1
    const gb = tf.tensor1d([0.3, 0.4]); // norm 0.5: left alone
    opt.apply({ [a.name]: ga, [b.name]: gb });
    close(a.dataSync(), [-0.6, -0.8]);
    close(b.dataSync(), [-0.3, -0.4]);
    opt.dispose();
    tf.dispose([a, b, ga, gb]);
  });

  it('changes the learning rate of SGD and Adam between updates', () => {
    for (const optimizer of ['sgd', 'adam'] as const) {
      const w = tf.variable(tf.tensor1d([1]));
      const opt = new StageOptimizer({ ...SGD, optimizer }, { backbone: [w], head: [] });
      const g = tf.tensor1d([1]);
      opt.setLearningRate(0);
      opt.apply({ [w.name]: g });
      close(w.dataSync(), [1]);
      opt.setLearningRate(0.5);
      opt.apply({ [w.name]: g });
      assert.ok(w.dataSync()[0] < 1, `${optimizer} moved once the rate is 0.5`);
      opt.dispose();
      tf.dispose([w, g]);
    }
  });
});

describe('learning-rate schedule', () => {
  it('cosine: epoch e of E at lr (1 + cos(pi e / E)) / 2, already lower in epoch 1, 0 in the last', () => {
    const c = { learningRate: 0.01, schedule: 'cosine' as const, warmupEpochs: 0, epochs: 4 };
    close([1, 2, 3, 4].map((e) => learningRateAt(c, e)), [0.01 * 0.8535533905932737, 0.005, 0.01 * 0.14644660940672627, 0], 1e-12);
  });

  it('warmup ramps linearly, then the cosine runs over the remaining epochs; constant stays', () => {
    const c = { learningRate: 0.1, schedule: 'cosine' as const, warmupEpochs: 2, epochs: 6 };
    close([1, 2, 3, 4, 5, 6].map((e) => learningRateAt(c, e)), [0.05, 0.1, 0.1 * 0.8535533905932737, 0.05, 0.1 * 0.14644660940672627, 0], 1e-12);
    const k = { learningRate: 0.1, schedule: 'constant' as const, warmupEpochs: 0, epochs: 3 };
    assert.deepEqual([1, 2, 3].map((e) => learningRateAt(k, e)), [0.1, 0.1, 0.1]);
  });
});
