// Export parity of the CIFAR ResNets on several input sizes and channel counts, with batch-norm
// statistics randomized so that folding is exercised, and again after a few training steps.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { exportToOnnx } from '../../src/export/export-onnx.js';
import { buildBackbone } from '../../src/train/nets/registry.js';
import { buildClassifierNet } from '../../src/train/nets/classifier.js';
import { uniformArray } from '../../src/seeded-random.js';
import { randomizeNormalization, useBackend } from './helpers.js';

before(() => useBackend('cpu'));

const cases: Array<[string, [number, number, number]]> = [
  ['resnet8', [32, 32, 3]],
  ['resnet8', [28, 28, 1]],
  ['resnet8', [29, 31, 3]],
  ['resnet20', [32, 32, 3]],
  ['resnet20', [29, 31, 1]],
  ['resnet32', [28, 28, 1]],
];

describe('CIFAR ResNet export parity', () => {
  for (const [name, inputShape] of cases) {
    test(`${name} on ${inputShape.join('x')} matches tfjs`, async () => {
      const net = buildBackbone(name, { inputShape, seed: 7 });
      try {
        randomizeNormalization(net, 11);
        assert.equal(net.outputDim, 64);
        const { parity, inputShape: onnxShape } = await exportToOnnx(net, { parity: { samples: 2, threads: 1 } });
        assert.deepEqual(onnxShape, ['batch', inputShape[2], inputShape[0], inputShape[1]]);
        assert.ok(parity.relative < 1e-5, `relative ${parity.relative}`);
        console.log(`# ${name} ${inputShape.join('x')}: max abs ${parity.maxAbsDiff.toExponential(2)}, relative ${parity.relative.toExponential(2)}`);
      } finally {
        net.dispose();
      }
    });
  }

  test('a resnet8 classifier still matches after SGD steps (moving statistics moved)', async () => {
    const net = buildClassifierNet('resnet8', 5, { inputShape: [16, 16, 3], width: 8, seed: 3 });
    const optimizer: tf.Optimizer = tf.train.momentum(0.05, 0.9);
    try {
      const before = net.getWeights()['layer2.0.bn1.running_mean'].values.slice();
      const x = tf.tensor4d(uniformArray(8 * 16 * 16 * 3, -1, 1, 5), [8, 16, 16, 3]);
      const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2], 'int32'), 5);
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) {
        const loss = tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, true)) as tf.Scalar, net.trainableVariables());
          optimizer.applyGradients(grads);
          return value;
        });
        losses.push(loss.dataSync()[0]);
        loss.dispose();
      }
      x.dispose();
      labels.dispose();
      assert.ok(losses[3] < losses[0], `loss went from ${losses[0]} to ${losses[3]}`);
      const after = net.getWeights()['layer2.0.bn1.running_mean'].values;
      assert.ok(after.some((v, i) => Math.abs(v - before[i]) > 1e-4), 'moving mean did not move');
      const { parity } = await exportToOnnx(net, { append: 'softmax', parity: { samples: 3, threads: 1 } });
      assert.ok(parity.relative < 1e-5, `relative ${parity.relative}`);
      console.log(`# resnet8 after training (softmax): max abs ${parity.maxAbsDiff.toExponential(2)}, relative ${parity.relative.toExponential(2)}`);
    } finally {
      optimizer.dispose();
      net.dispose();
    }
  });
});
