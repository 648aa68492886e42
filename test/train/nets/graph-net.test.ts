// The tfjs interpreter: batch norm in training (values by hand, moving averages), the same
// gradients on every backend (each runs the same ops on its own kernels), weights round trips.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GraphNet } from '../../../src/train/nets/graph-net.js';
import { GraphBuilder } from '../../../src/train/nets/net-graph.js';
import { buildBackbone } from '../../../src/train/nets/registry.js';
import { buildClassifierNet, classifierOn } from '../../../src/train/nets/classifier.js';
import { normalArray, uniformArray } from '../../../src/seeded-random.js';
import { hasCode } from '../../../src/errors.js';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { randomizeNormalization } from '../../export/helpers.js';

/** Makes `name` the active backend the way a training run does, with its kernels registered. */
async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  await resolveTrainingBackend({ backend: name, log: () => {} });
}

before(() => useBackend('cpu'));

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let r = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    r = Math.max(r, Math.abs(b[i]));
  }
  return d / r;
}

describe('batch norm in training', () => {
  // input [3, 2, 1, 2] -> BN -> flatten: 6 values per channel.
  const xs = [1, 10, 2, 20, 4, 40, -1, 0, 0, 5, 6, -3];
  const graph = (() => {
    const b = new GraphBuilder('bn', [2, 1, 2]);
    return b.build(b.flatten(b.batchNorm(b.input, { epsilon: 1e-5, momentum: 0.9 }, 'bn')));
  })();

  for (const backend of ['cpu', 'wasm'] as const) {
    test(`normalizes with batch statistics and moves the averages (${backend})`, async () => {
      await useBackend(backend);
      const net = new GraphNet(graph);
      try {
        const y = tf.tidy(() => net.apply(tf.tensor4d(xs, [3, 2, 1, 2]), true)).dataSync();
        for (const ch of [0, 1]) {
          const v = xs.filter((_, i) => i % 2 === ch);
          const mean = v.reduce((a, b) => a + b) / v.length;
          const biased = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
          const got = Array.from(y).filter((_, i) => i % 2 === ch);
          v.forEach((x, i) => assert.ok(Math.abs(got[i] - (x - mean) / Math.sqrt(biased + 1e-5)) < 1e-5));
          const w = net.getWeights();
          // moving = 0.9*moving + 0.1*batch, with the unbiased variance (n/(n-1)) as PyTorch keeps it.
          assert.ok(Math.abs(w['bn.running_mean'].values[ch] - 0.1 * mean) < 1e-5);
          assert.ok(Math.abs(w['bn.running_var'].values[ch] - (0.9 + 0.1 * biased * 6 / 5)) < 1e-5);
        }
      } finally {
        net.dispose();
        await useBackend('cpu');
      }
    });
  }
});

describe('GraphNet', () => {
  test('a training step has the same gradients and moving statistics on wasm as on cpu', async () => {
    // Strided 'same' conv, depthwise, PReLU, BN 2d/1d, residual, dense: every kernel the backends
    // replace or add (conv filter and input gradients, broadcasting arithmetic, reductions).
    const b = new GraphBuilder('mixed', [9, 10, 3]);
    let x = b.prelu(b.batchNorm(b.conv2d(b.input, { filters: 6, kernel: 3, strides: 2, padding: 'same' }, 'c1'), {}, 'bn1'), 'p1');
    const y = b.batchNorm(b.depthwiseConv2d(x, { kernel: 3, padding: 1 }, 'dw'), {}, 'bn2');
    x = b.relu(b.add(x, y));
    x = b.conv2d(x, { filters: 8, kernel: 1, strides: 2, padding: 'valid' }, 'c2');
    const graph = b.build(b.batchNorm(b.dense(b.flatten(x), 5, {}, 'fc'), {}, 'bn3'));
    const xa = uniformArray(4 * 9 * 10 * 3, -1, 1, 31);
    const ra = normalArray(4 * 5, 1, 32);
    const step = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      const net = new GraphNet(graph, { seed: 33 });
      const names = net.paramSpecs().filter((p) => p.trainable).map((p) => p.name);
      const grads = tf.tidy(() => {
        const { grads: g } = tf.variableGrads(() => tf.sum(tf.mul(net.apply(tf.tensor4d(xa, [4, 9, 10, 3]), true), tf.tensor2d(ra, [4, 5]))) as tf.Scalar, net.trainableVariables());
        return net.trainableVariables().map((v) => g[v.name].dataSync().slice());
      });
      const weights = net.getWeights();
      net.dispose();
      return { names, grads, weights };
    };
    const cpu = await step('cpu');
    const wasm = await step('wasm');
    await useBackend('cpu');
    // fc.bias feeds a training-mode BN, which cancels any shift: its true gradient is 0 and both
    // backends return rounding noise. Differences are measured against the largest gradient.
    const scale = Math.max(...cpu.grads.map((g) => Math.max(...g.map(Math.abs))));
    cpu.names.forEach((name, i) => {
      const diff = Math.max(...wasm.grads[i].map((v, j) => Math.abs(v - cpu.grads[i][j])));
      assert.ok(diff / scale < 1e-5, `gradient of ${name}: ${diff} (scale ${scale})`);
    });
    for (const name of ['bn1.running_var', 'bn2.running_mean', 'bn3.running_var']) {
      assert.ok(maxRelDiff(wasm.weights[name].values, cpu.weights[name].values) < 1e-5, name);
    }
  });

  test('training steps under tf.variableGrads: gradients for every trainable variable, moving stats move, nothing leaks', () => {
    const net = buildClassifierNet('resnet8', 3, { inputShape: [8, 8, 2], width: 4, seed: 1, dropout: 0.2 });
    const optimizer = tf.train.sgd(0.1);
    try {
      const trainable = net.trainableVariables();
      assert.equal(trainable.length, net.paramSpecs().filter((p) => p.trainable).length);
      assert.ok(!trainable.some((v) => net.paramSpecs().some((p) => !p.trainable && net.variables().get(p.name) === v)));
      const x = tf.tensor4d(uniformArray(6 * 8 * 8 * 2, -1, 1, 2), [6, 8, 8, 2]);
      const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
      const before = net.getWeights();
      let tensors = 0;
      for (let step = 0; step < 3; step++) {
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, true)) as tf.Scalar, trainable);
          assert.equal(Object.keys(grads).length, trainable.length);
          for (const g of Object.values(grads)) assert.ok(g.dataSync().every(Number.isFinite));
          optimizer.applyGradients(grads);
        });
        if (step === 1) tensors = tf.memory().numTensors;
      }
      assert.equal(tf.memory().numTensors, tensors, 'tensors leaked per step');
      const after = net.getWeights();
      for (const name of ['bn1.running_mean', 'bn1.running_var', 'layer3.0.bn2.running_var', 'layer2.0.shortcut.1.running_mean']) {
        assert.ok(after[name].values.some((v, i) => Math.abs(v - before[name].values[i]) > 1e-6), `${name} did not move`);
      }
      x.dispose();
      labels.dispose();
    } finally {
      optimizer.dispose();
      net.dispose();
    }
  });

  test('gradients flow through inference-mode batch norm without scale or offset (frozen statistics)', () => {
    // y = (x W - mean) / sqrt(var + eps) with no gamma and no beta (IResNet's `features`), loss =
    // sum(y): dL/dW[i][j] = sum over n of x[n][i] / sqrt(var[j] + eps).
    const b = new GraphBuilder('frozen-bn', [1, 1, 2]);
    const g = b.build(b.batchNorm(b.dense(b.flatten(b.input), 2, { bias: false }, 'fc'), { scale: false, center: false, epsilon: 0 }, 'bn'));
    const net = new GraphNet(g, { seed: 3 });
    net.setWeights({ 'bn.running_mean': { shape: [2], values: Float32Array.from([0.5, -1]) }, 'bn.running_var': { shape: [2], values: Float32Array.from([4, 0.25]) } }, { partial: true });
    const x = tf.tensor4d([1, 2, 3, -4], [2, 1, 1, 2]);
    const [weight] = net.trainableVariables(); // fc.weight, the only trainable parameter
    const { value, grads } = tf.variableGrads(() => tf.sum(net.apply(x, false)) as tf.Scalar, [weight]);
    // sum over n of x[n] = [4, -2]; 1/sqrt(var) = [0.5, 2].
    assert.deepEqual(Array.from(grads[weight.name].dataSync()), [2, 8, -1, -4]);
    tf.dispose([x, value, ...Object.values(grads)]);
    net.dispose();
  });

  test('evaluation frees every intermediate and is deterministic; dropout only acts in training', () => {
    const b = new GraphBuilder('drop', [4, 4, 3]);
    const g = b.build(b.dropout(b.globalAvgPool(b.relu(b.conv2d(b.input, { filters: 64, kernel: 1 }))), 0.5));
    const net = new GraphNet(g, { seed: 2 });
    const x = tf.tensor4d(uniformArray(2 * 4 * 4 * 3, -1, 1, 3), [2, 4, 4, 3]);
    const count = tf.memory().numTensors;
    const y1 = net.apply(x, false);
    assert.equal(tf.memory().numTensors, count + 1);
    const y2 = net.apply(x, false);
    const y3 = net.apply(x, true);
    assert.deepEqual(y1.dataSync(), y2.dataSync());
    assert.notDeepEqual(y1.dataSync(), y3.dataSync());
    tf.dispose([x, y1, y2, y3]);
    net.dispose();
  });

  test('getWeights/setWeights round-trip every parameter, moving statistics included', () => {
    const a = buildBackbone('resnet8', { inputShape: [12, 10, 3], width: 4, seed: 1 });
    const b = buildBackbone('resnet8', { inputShape: [12, 10, 3], width: 4, seed: 2 });
    try {
      randomizeNormalization(a, 5);
      const weights = a.getWeights();
      assert.ok('layer2.0.shortcut.1.running_var' in weights);
      b.setWeights(weights);
      const again = b.getWeights();
      assert.deepEqual(Object.keys(again), Object.keys(weights));
      for (const [name, w] of Object.entries(weights)) assert.deepEqual(again[name].values, w.values, name);
      const x = tf.tensor4d(uniformArray(2 * 12 * 10 * 3, -1, 1, 9), [2, 12, 10, 3]);
      assert.deepEqual(a.apply(x, false).dataSync(), b.apply(x, false).dataSync());
      // getWeights hands out copies.
      weights['conv1.weight'].values.fill(0);
      assert.ok(a.getWeights()['conv1.weight'].values.some((v) => v !== 0));
      x.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('setWeights refuses missing, unknown and misshaped weights with WEIGHTS_MISMATCH', () => {
    const net = buildBackbone('resnet8', { width: 4 });
    const w = net.getWeights();
    const mismatch = (e: unknown) => hasCode(e) && e.code === 'WEIGHTS_MISMATCH';
    const { ['bn1.running_mean']: _dropped, ...missing } = w;
    assert.throws(() => net.setWeights(missing), (e: unknown) => mismatch(e) && /missing weight "bn1.running_mean"/.test((e as Error).message));
    assert.throws(() => net.setWeights({ ...w, 'extra.weight': { shape: [1], values: new Float32Array(1) } }), mismatch);
    assert.throws(() => net.setWeights({ ...w, 'conv1.weight': { shape: [3, 3, 3, 5], values: new Float32Array(135) } }), mismatch);
    net.setWeights({ 'bn1.running_mean': w['bn1.running_mean'] }, { partial: true });
    net.dispose();
  });

  test('a classifier built on a backbone trains the backbone’s own variables', () => {
    const backbone = buildBackbone('resnet8', { inputShape: [8, 8, 1], width: 4, seed: 3 });
    const classifier = classifierOn(backbone, 2, { seed: 4 });
    try {
      assert.equal(classifier.outputDim, 2);
      assert.equal(backbone.variables().get('conv1.weight'), classifier.variables().get('conv1.weight'));
      const x = tf.tensor4d(uniformArray(4 * 64, -1, 1, 1), [4, 8, 8, 1]);
      const before = backbone.apply(x, false).dataSync().slice();
      tf.tidy(() => {
        const labels = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2);
        const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, classifier.apply(x, true)) as tf.Scalar, classifier.trainableVariables());
        tf.train.sgd(0.5).applyGradients(grads);
      });
      assert.notDeepEqual(backbone.apply(x, false).dataSync(), before);
      x.dispose();
    } finally {
      classifier.dispose();
      assert.ok(!backbone.variables().get('conv1.weight')?.isDisposed, 'the classifier disposed a shared variable');
      backbone.dispose();
    }
  });

  test('an input of the wrong shape fails with NET_INPUT_SHAPE', () => {
    const net = buildBackbone('resnet8', { width: 4 });
    assert.throws(() => net.apply(tf.zeros([1, 28, 28, 1]) as tf.Tensor4D, false), (e: unknown) => hasCode(e) && e.code === 'NET_INPUT_SHAPE');
    net.dispose();
  });
});
