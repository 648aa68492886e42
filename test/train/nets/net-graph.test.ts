// The layer-graph description: shape inference, TF 'same' padding, parameter names and counts
// of the backbones against their papers, and the registry's errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { convOutputSize, countParams, graphParams, GraphBuilder, resolvePadding } from '../../../src/train/nets/net-graph.js';
import { backboneGraph, BACKBONE_NAMES } from '../../../src/train/nets/registry.js';
import { withClassifierHead } from '../../../src/train/nets/classifier.js';
import { IRESNET_LAYERS } from '../../../src/train/nets/iresnet.js';
import { hasCode } from '../../../src/errors.js';

describe('TF-style padding', () => {
  test("'same' at stride 2 pads only bottom/right on even inputs, both sides on odd ones", () => {
    // total = (ceil(n/s) - 1)*s + k - n; the smaller half goes first.
    assert.deepEqual(resolvePadding('same', [32, 32], [3, 3], [2, 2], [1, 1]), [0, 1, 0, 1]);
    assert.deepEqual(resolvePadding('same', [31, 29], [3, 3], [2, 2], [1, 1]), [1, 1, 1, 1]);
    assert.deepEqual(resolvePadding('same', [8, 8], [4, 4], [1, 1], [1, 1]), [1, 2, 1, 2]);
    assert.deepEqual(resolvePadding('same', [10, 10], [3, 3], [1, 1], [2, 2]), [2, 2, 2, 2]);
    assert.deepEqual(resolvePadding(1, [7, 7], [3, 3], [2, 2], [1, 1]), [1, 1, 1, 1]);
  });

  test('output sizes follow floor((n + pads - k_eff)/s) + 1', () => {
    assert.deepEqual(convOutputSize('same', [29, 31], [3, 3], [2, 2], [1, 1]), [15, 16]);
    assert.deepEqual(convOutputSize('valid', [29, 31], [3, 3], [2, 2], [1, 1]), [14, 15]);
    assert.deepEqual(convOutputSize(1, [29, 31], [3, 3], [2, 2], [1, 1]), [15, 16]);
    assert.deepEqual(convOutputSize('valid', [7, 7], [7, 7], [1, 1], [1, 1]), [1, 1]);
  });
});

describe('GraphBuilder', () => {
  test('infers shapes and names parameters after node ids', () => {
    const b = new GraphBuilder('tiny', [9, 9, 3]);
    let x = b.conv2d(b.input, { filters: 8, kernel: 3, strides: 2, padding: 'same' }, 'c1');
    x = b.batchNorm(x, {}, 'bn');
    x = b.prelu(x, 'act');
    x = b.depthwiseConv2d(x, { kernel: 3, multiplier: 2 }, 'dw');
    const g = b.build(b.dense(b.flatten(x), 4, {}, 'fc'));
    assert.deepEqual(g.nodes.map((n) => n.shape), [[5, 5, 8], [5, 5, 8], [5, 5, 8], [5, 5, 16], [400], [4]]);
    assert.deepEqual(
      graphParams(g).map((p) => `${p.name}:${p.shape.join('x')}${p.trainable ? '' : '(fixed)'}`),
      ['c1.weight:3x3x3x8', 'bn.weight:8', 'bn.bias:8', 'bn.running_mean:8(fixed)', 'bn.running_var:8(fixed)', 'act.weight:8', 'dw.weight:3x3x8x2', 'fc.weight:400x4', 'fc.bias:4'],
    );
  });

  test('rejects malformed graphs with NET_GRAPH_INVALID', () => {
    const b = new GraphBuilder('bad', [8, 8, 3]);
    const x = b.conv2d(b.input, { filters: 4, kernel: 3 }, 'c');
    const invalid = (e: unknown) => hasCode(e) && e.code === 'NET_GRAPH_INVALID';
    assert.throws(() => b.conv2d(x, { filters: 4, kernel: 3 }, 'c'), invalid); // duplicate id
    assert.throws(() => b.add(x, b.input), invalid); // shape mismatch
    assert.throws(() => b.dense(x, 3), invalid); // dense on a map
    assert.throws(() => b.conv2d(x, { filters: 6, kernel: 3, groups: 4 }), invalid);
    assert.throws(() => b.conv2d(x, { filters: 4, kernel: 3, strides: 2, dilations: 2 }), invalid);
    assert.throws(() => b.build(x), invalid); // output must be a vector
  });
});

describe('backbones', () => {
  test('feature dimensions', () => {
    const dims = Object.fromEntries(BACKBONE_NAMES.map((n) => [n, backboneGraph(n).nodes.at(-1)?.shape[0]]));
    assert.deepEqual(dims, { resnet8: 64, resnet20: 64, resnet32: 64, mobilefacenet: 128, iresnet18: 512, iresnet34: 512, iresnet50: 512 });
    assert.equal(backboneGraph('resnet8', { width: 32 }).nodes.at(-1)?.shape[0], 128);
    assert.equal(backboneGraph('mobilefacenet', { embeddingDim: 512 }).nodes.at(-1)?.shape[0], 512);
  });

  test('CIFAR ResNets have the parameter counts of He et al. Table 6 (0.27M, 0.46M) plus option-B projections', () => {
    // Option B adds two 1x1 projections with BN: 16*32 + 2*32 + 32*64 + 2*64 = 2752 parameters.
    const projections = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64;
    const optionA = (n: number) => {
      const conv = (k: number, i: number, o: number) => k * k * i * o;
      let total = conv(3, 3, 16) + 2 * 16;
      for (const [i, o] of [[16, 16], [16, 32], [32, 64]]) {
        total += conv(3, i, o) + 2 * o + conv(3, o, o) + 2 * o; // first block of the stage
        total += (n - 1) * 2 * (conv(3, o, o) + 2 * o);
      }
      return total;
    };
    assert.equal(countParams(backboneGraph('resnet20')), optionA(3) + projections);
    assert.equal(countParams(backboneGraph('resnet32')), optionA(5) + projections);
    assert.equal(Math.round(optionA(3) / 1e4) / 100, 0.27);
    assert.equal(Math.round(optionA(5) / 1e4) / 100, 0.46);
  });

  test('MobileFaceNet has about the 0.99M parameters of Chen et al. Table 1', () => {
    const n = countParams(backboneGraph('mobilefacenet'));
    assert.ok(Math.abs(n - 0.99e6) / 0.99e6 < 0.02, `${n}`);
  });

  test('IResNets count what arcface_torch counts (minus the frozen features.weight)', () => {
    for (const depth of [18, 34, 50] as const) {
      const layers = IRESNET_LAYERS[depth];
      let total = 27 * 64 + 2 * 64 + 64; // conv1, bn1, prelu
      let cin = 64;
      [64, 128, 256, 512].forEach((planes, s) => {
        for (let i = 0; i < layers[s]; i++) {
          total += 2 * cin + 9 * cin * planes + 2 * planes + planes + 9 * planes * planes + 2 * planes;
          if (i === 0) total += cin * planes + 2 * planes;
          cin = planes;
        }
      });
      total += 2 * 512 + 512 * 49 * 512 + 512 + 512; // bn2, fc, features.bias
      assert.equal(countParams(backboneGraph(`iresnet${depth}`)), total, `iresnet${depth}`);
    }
    // arcface_torch's IResNet-50: 43.59M parameters (features.weight included).
    assert.equal(Math.round((countParams(backboneGraph('iresnet50')) + 512) / 1e4) / 100, 43.59);
  });

  test('IResNet parameter names match the PyTorch state_dict', () => {
    const names = new Set(graphParams(backboneGraph('iresnet18')).map((p) => p.name));
    for (const n of ['conv1.weight', 'bn1.running_var', 'prelu.weight', 'layer1.0.bn1.weight', 'layer1.0.conv2.weight', 'layer1.0.downsample.0.weight', 'layer4.1.prelu.weight', 'fc.weight', 'fc.bias', 'features.bias', 'features.running_mean']) {
      assert.ok(names.has(n), n);
    }
  });

  test('a classifier head appends logits to the backbone features', () => {
    const g = withClassifierHead(backboneGraph('resnet8', { inputShape: [28, 28, 1] }), 10);
    assert.equal(g.name, 'resnet8+linear10');
    assert.deepEqual(g.nodes.at(-1)?.shape, [10]);
    assert.ok(graphParams(g).some((p) => p.name === 'head.weight' && p.shape.join() === '64,10'));
  });

  test('unknown names and foreign options fail with codes', () => {
    assert.throws(() => backboneGraph('resnet9'), (e: unknown) => hasCode(e) && e.code === 'UNKNOWN_BACKBONE' && /Should be one of: resnet8/.test(e.message));
    assert.throws(() => backboneGraph('mobilefacenet', { width: 8 }), (e: unknown) => hasCode(e) && e.code === 'BACKBONE_OPTIONS_INVALID');
    assert.throws(() => backboneGraph('iresnet18', { inputShape: [8, 8, 3] }), (e: unknown) => hasCode(e) && e.code === 'BACKBONE_OPTIONS_INVALID');
  });
});
