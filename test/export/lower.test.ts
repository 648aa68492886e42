// Lowering of each kind of node, checked by running the ONNX graph (parity with tfjs) and by
// reading the graph back: folded batch norms, explicit pads, permuted flatten, names, batch dim.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import pkg from 'onnx-proto';
import { exportToOnnx } from '../../src/export/export-onnx.js';
import { lowerToOnnx } from '../../src/export/lower.js';
import { checkParity } from '../../src/export/parity.js';
import { ExportError } from '../../src/export/export-error.js';
import { GraphNet } from '../../src/train/nets/graph-net.js';
import { GraphBuilder, type NetGraph } from '../../src/train/nets/net-graph.js';
import { buildClassifierNet } from '../../src/train/nets/classifier.js';
import { buildBackbone } from '../../src/train/nets/registry.js';
import { uniformArray } from '../../src/seeded-random.js';
import { hasCode } from '../../src/errors.js';
import { randomizeNormalization, useBackend } from './helpers.js';

const { onnx } = pkg;
before(() => useBackend('cpu'));

const PARITY = { samples: 3, threads: 1 };

function decode(bytes: Uint8Array) {
  return onnx.ModelProto.decode(bytes);
}

function ops(bytes: Uint8Array): string[] {
  return (decode(bytes).graph?.node ?? []).map((n) => n.opType ?? '');
}

/** A net over `graph` with randomized batch-norm statistics and PReLU slopes. */
function netOf(graph: NetGraph, seed = 1): GraphNet {
  const net = new GraphNet(graph, { seed });
  randomizeNormalization(net, seed + 100);
  return net;
}

async function expectParity(net: GraphNet, opts: Parameters<typeof exportToOnnx>[1] = {}) {
  const result = await exportToOnnx(net, { ...opts, parity: PARITY });
  assert.ok(result.parity.relative < 1e-5, `${net.name}: relative ${result.parity.relative}`);
  return result;
}

describe('lowering', () => {
  test("'same' convolutions at stride 2 (asymmetric pads), depthwise x2, dilation, groups, bias", async () => {
    for (const [h, w] of [[16, 16], [15, 13]]) {
      const b = new GraphBuilder(`convs-${h}x${w}`, [h, w, 4]);
      let x = b.conv2d(b.input, { filters: 8, kernel: 3, strides: 2, padding: 'same', bias: true }, 'c1');
      x = b.relu(b.batchNorm(x, {}, 'bn1'));
      x = b.depthwiseConv2d(x, { kernel: 3, multiplier: 2, strides: 2, padding: 'same', bias: true }, 'dw');
      x = b.batchNorm(x, {}, 'bn2');
      x = b.conv2d(x, { filters: 8, kernel: 3, dilations: 2, padding: 'same' }, 'dil');
      x = b.conv2d(x, { filters: 12, kernel: [1, 3], groups: 4, padding: 'valid' }, 'grouped');
      x = b.prelu(b.batchNorm(x, {}, 'bn3'), 'act');
      const net = netOf(b.build(b.globalAvgPool(x)));
      const { model } = await expectParity(net);
      const graph = decode(model).graph;
      const c1 = graph?.node?.find((n) => n.opType === 'Conv' && n.input?.includes('c1.weight'));
      const pads = c1?.attribute?.find((a) => a.name === 'pads')?.ints?.map(Number);
      assert.deepEqual(pads, h === 16 ? [0, 0, 1, 1] : [1, 1, 1, 1], 'ONNX pads are [top, left, bottom, right]');
      const dw = graph?.node?.find((n) => n.input?.includes('dw.weight'));
      assert.equal(Number(dw?.attribute?.find((a) => a.name === 'group')?.i), 8);
      const slope = graph?.initializer?.find((t) => t.name === 'act.weight');
      assert.deepEqual(slope?.dims?.map(Number), [12, 1, 1]);
      assert.ok(!ops(model).includes('BatchNormalization'));
      assert.equal(ops(model).filter((o) => o === 'Mul').length, 0, 'every BN here follows a conv and is folded');
      net.dispose();
    }
  });

  test('flatten of a feature map feeds dense through permuted rows, or through Transpose otherwise', async () => {
    const b = new GraphBuilder('flat', [6, 5, 3]);
    const map = b.relu(b.conv2d(b.input, { filters: 4, kernel: 3, strides: 2, padding: 'same' }, 'c'));
    const viaDense = netOf(b.build(b.dense(b.flatten(map, 'f'), 7, {}, 'fc')));
    const dense = await expectParity(viaDense);
    assert.ok(!ops(dense.model).includes('Transpose'));
    viaDense.dispose();

    const b2 = new GraphBuilder('flat-bn', [6, 5, 3]);
    const map2 = b2.conv2d(b2.input, { filters: 4, kernel: 3, strides: 2, padding: 'same' }, 'c');
    const viaBn = netOf(b2.build(b2.l2normalize(b2.batchNorm(b2.flatten(map2), {}, 'bn1d'))));
    const bn = await expectParity(viaBn);
    assert.ok(ops(bn.model).includes('Transpose'));
    assert.ok(ops(bn.model).includes('Mul'), 'a BN after flatten is a Mul + Add');
    viaBn.dispose();
  });

  test('BN1d after dense is folded into the Gemm; a BN on the input becomes Mul + Add', async () => {
    const b = new GraphBuilder('bn1d', [4, 4, 2]);
    let x = b.batchNorm(b.input, {}, 'bn_in');
    x = b.globalAvgPool(b.conv2d(x, { filters: 6, kernel: 3 }, 'c'));
    x = b.batchNorm(b.dense(x, 5, { bias: false }, 'fc'), { scale: false }, 'features');
    const net = netOf(b.build(x));
    const { model } = await expectParity(net);
    assert.deepEqual(ops(model), ['Mul', 'Add', 'Conv', 'ReduceMean', 'Gemm']);
    net.dispose();
  });

  test('input/output names, dynamic batch, opset 17', async () => {
    const net = buildBackbone('resnet8', { inputShape: [9, 7, 2], width: 4 });
    const model = lowerToOnnx(net, { inputName: 'pixels', outputName: 'embedding' });
    const m = decode(model);
    assert.equal(Number(m.opsetImport?.[0].version), 17);
    const input = m.graph?.input?.[0];
    assert.equal(input?.name, 'pixels');
    assert.deepEqual(input?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue)), ['batch', 2, 9, 7]);
    assert.equal(m.graph?.output?.[0].name, 'embedding');
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    for (const n of [1, 5]) {
      const out = await session.run({ pixels: new ort.Tensor('float32', new Float32Array(n * 2 * 9 * 7), [n, 2, 9, 7]) });
      assert.deepEqual(out.embedding.dims, [n, 16]);
    }
    await session.release();
    assert.throws(() => lowerToOnnx(net, { outputName: 'conv1.weight' }), (e: unknown) => hasCode(e) && e.code === 'EXPORT_OPTIONS_INVALID');
    net.dispose();
  });
});

describe('appended outputs', () => {
  test('a classifier exported with softmax gives probabilities', async () => {
    const net = buildClassifierNet('resnet8', 4, { inputShape: [10, 10, 1], width: 4, seed: 2 });
    randomizeNormalization(net, 3);
    const { model, outputDim } = await expectParity(net, { append: 'softmax', outputName: 'probabilities' });
    assert.equal(outputDim, 4);
    assert.equal(ops(model).at(-1), 'Softmax');
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const out = await session.run({ input: new ort.Tensor('float32', uniformArray(3 * 100, -1, 1, 4), [3, 1, 10, 10]) });
    const p = out.probabilities.data as Float32Array;
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(p.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b) - 1) < 1e-5);
    await session.release();
    net.dispose();
  });

  test('an embedder exported with l2norm gives unit vectors', async () => {
    const net = buildBackbone('resnet8', { inputShape: [10, 10, 3], width: 4, seed: 5 });
    randomizeNormalization(net, 6);
    const { model } = await expectParity(net, { append: 'l2norm' });
    assert.deepEqual(ops(model).slice(-3), ['ReduceL2', 'Max', 'Div']);
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const out = await session.run({ input: new ort.Tensor('float32', uniformArray(2 * 300, -1, 1, 7), [2, 3, 10, 10]) });
    const e = out.output.data as Float32Array;
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(Math.hypot(...e.subarray(i * 16, i * 16 + 16)) - 1) < 1e-5);
    await session.release();
    net.dispose();
  });
});

describe('the parity check refuses a wrong export', () => {
  const isParityFailure = (e: unknown) =>
    e instanceof ExportError && e.code === 'EXPORT_PARITY_FAILED' && e.report !== undefined && e.report.relative > 1e-4 && e.report.samples === 3;

  test('when the net changed after lowering', async () => {
    const net = buildBackbone('resnet8', { inputShape: [8, 8, 3], width: 4, seed: 8 });
    randomizeNormalization(net, 9);
    const model = lowerToOnnx(net);
    const report = await checkParity(net, model, PARITY);
    assert.ok(report.relative < 1e-5 && report.maxAbsDiff >= 0 && report.samples === 3);
    // One kernel of one output channel, +0.1 per tap: a change training could well make.
    const w = net.getWeights()['layer3.0.conv2.weight']; // [3, 3, 16, 16]
    const values = w.values.map((v, i) => (i % 16 === 5 ? v + 0.1 : v));
    net.setWeights({ 'layer3.0.conv2.weight': { shape: w.shape, values } }, { partial: true });
    await assert.rejects(checkParity(net, model, PARITY), isParityFailure);
    net.dispose();
  });

  test('when a weight inside the ONNX file is perturbed', async () => {
    const net = buildBackbone('resnet8', { inputShape: [8, 8, 3], width: 4, seed: 10 });
    randomizeNormalization(net, 11);
    const m = decode(lowerToOnnx(net));
    const init = m.graph?.initializer?.find((t) => t.name === 'layer1.0.conv1.weight');
    assert.ok(init?.rawData);
    const raw = new Float32Array(new Uint8Array(init.rawData).buffer); // a copy: decode may return a view
    raw[3] += 1;
    init.rawData = new Uint8Array(raw.buffer);
    const corrupted = onnx.ModelProto.encode(m).finish();
    await assert.rejects(checkParity(net, corrupted, PARITY), isParityFailure);
    net.dispose();
  });

  test('when outputs differ only by NaN', async () => {
    const net = buildBackbone('resnet8', { inputShape: [8, 8, 3], width: 4, seed: 12 });
    const model = lowerToOnnx(net);
    const w = net.getWeights()['conv1.weight'];
    net.setWeights({ 'conv1.weight': { shape: w.shape, values: w.values.map(() => NaN) } }, { partial: true });
    await assert.rejects(checkParity(net, model, PARITY), (e: unknown) => e instanceof ExportError && e.code === 'EXPORT_PARITY_FAILED');
    net.dispose();
  });
});
