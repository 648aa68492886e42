// protoserve import-tfjs: TensorFlow.js graph models -> ONNX, checked against TensorFlow.js's own
// execution of the same graph (the reference is tfjs, independent of the lowering).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { readArtifact } from '../../src/artifact/read-artifact.js';
import { sha256Hex } from '../../src/artifact/hash.js';
import { importTfjsCommand } from '../../src/export/import-tfjs-command.js';
import { convertTfjsModel } from '../../src/export/tfjs/import-tfjs.js';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { tempDir } from '../infer/tiny-models.js';
import { attr, writeGraphModel, type ConstSpec, type NodeSpec } from './tfjs-graphs.js';

const FIXTURES = 'test/fixtures/tfjs';
const LICENCE = 'MIT';

describe('import-tfjs on the real models', () => {
  before(async () => {
    await resolveTrainingBackend({});
  });

  for (const [file, task, artifact] of [
    ['blazeface-back.json', 'detector', 'blazeface'],
    ['mobileface.json', 'embedder', 'mobileface'],
    ['mobilefacenet.json', 'embedder', undefined],
  ] as const) {
    test(`${file}: onnxruntime matches TensorFlow.js within 1e-4 relative on every output`, async () => {
      const r = await convertTfjsModel(join(FIXTURES, file), { task, name: 'm', licence: LICENCE, ...(task === 'detector' ? { input: { resize: 'letterbox' } } : {}) });
      assert.ok(r.parity.outputs.length >= 1);
      for (const o of r.parity.outputs) assert.ok(o.relative <= 1e-4, `${o.name}: relative ${o.relative}`);
      // Measured 1e-6 .. 2e-6: a lowering bug shows up as 1e-2 or worse.
      assert.ok(r.parity.relative < 1e-5, `worst relative ${r.parity.relative}`);
      if (artifact) {
        // The committed artifact is exactly what the importer makes from the package's files.
        const shipped = await readArtifact(join('models', artifact));
        assert.equal(sha256Hex(r.lowered.bytes), shipped.manifest.sha256, `models/${artifact}/model.onnx differs from a fresh import of ${file}`);
      }
    });
  }

  test('every op of the models above is covered (no model needs an op outside the lowering)', async () => {
    const ops = new Set<string>();
    for (const file of ['blazeface-back.json', 'mobilefacenet.json', 'mobileface.json']) {
      const json = JSON.parse(await readFile(join(FIXTURES, file), 'utf8')) as { modelTopology: { node: { op: string }[] } };
      for (const n of json.modelTopology.node) ops.add(n.op);
    }
    for (const op of ['_FusedConv2D', 'FusedDepthwiseConv2dNative', 'DepthwiseConv2dNative', 'Conv2D', 'Relu', 'Abs', 'Sub', 'Mul', 'Add', 'AddV2', 'Maximum', 'Squeeze', 'Square', 'Sum', 'Rsqrt', 'Pad', 'MaxPool', 'Reshape', 'Identity']) {
      assert.ok(ops.has(op), `the fixtures use ${op}`);
    }
  });

  test('a detector gets one "detections" output: every anchor\'s score and 16 regressors, finest grid first', async () => {
    const r = await convertTfjsModel(join(FIXTURES, 'blazeface-back.json'), { task: 'detector', name: 'bf', licence: LICENCE, input: { resize: 'letterbox' } });
    const m = r.description.manifest;
    assert.equal(m.output.tensor, 'detections');
    assert.equal(m.output.dimension, 896 * 17);
    assert.deepEqual(m.detector?.anchors, [{ stride: 16, perCell: 2 }, { stride: 32, perCell: 6 }]);
    assert.equal(m.detector?.keypoints.length, 6);
  });
});

describe('import-tfjs lowering, op by op, against TensorFlow.js', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    await resolveTrainingBackend({});
    ({ dir, cleanup } = await tempDir());
  });
  after(() => cleanup());

  const X = { name: 'x', shape: [-1, 8, 8, 3] };
  const conv = (name: string, op: string, input: string, filter: string, a: NodeSpec['attr'] = {}, extra: string[] = []): NodeSpec => ({
    name,
    op,
    inputs: [input, filter, ...extra],
    attr: { strides: attr.ints([1, 1, 1, 1]), padding: attr.str('SAME'), data_format: attr.str('NHWC'), dilations: attr.ints([1, 1, 1, 1]), ...a },
  });
  const fused = (ops: string[], more: NodeSpec['attr'] = {}) => ({ fused_ops: attr.strs(ops), num_args: attr.int(ops.includes('Prelu') ? 2 : 1), epsilon: attr.float(0), ...more });
  const W = (name: string, shape: number[]): ConstSpec => ({ name, shape });
  const I = (name: string, values: number[], shape = [values.length]): ConstSpec => ({ name, shape, values, int: true });

  const cases: { what: string; consts?: ConstSpec[]; nodes: NodeSpec[]; input?: { name: string; shape: number[] } }[] = [
    { what: 'Conv2D SAME stride 2 (TF pads bottom/right)', consts: [W('w', [3, 3, 3, 6])], nodes: [conv('y', 'Conv2D', 'x', 'w', { strides: attr.ints([1, 2, 2, 1]) })] },
    { what: 'Conv2D VALID dilation 2', consts: [W('w', [3, 3, 3, 5])], nodes: [conv('y', 'Conv2D', 'x', 'w', { padding: attr.str('VALID'), dilations: attr.ints([1, 2, 2, 1]) })] },
    { what: 'Conv2D with uint8-quantized weights (dequantized on reading)', consts: [{ name: 'w', shape: [3, 3, 3, 4], uint8: true }], nodes: [conv('y', 'Conv2D', 'x', 'w')] },
    { what: 'Conv2D EXPLICIT padding', consts: [W('w', [2, 3, 3, 3])], nodes: [conv('y', 'Conv2D', 'x', 'w', { padding: attr.str('EXPLICIT'), explicit_paddings: attr.ints([0, 0, 1, 2, 0, 1, 0, 0]) })] },
    { what: '_FusedConv2D BiasAdd + Relu6', consts: [W('w', [3, 3, 3, 6]), W('b', [6])], nodes: [conv('y', '_FusedConv2D', 'x', 'w', fused(['BiasAdd', 'Relu6']), ['b'])] },
    { what: '_FusedConv2D BiasAdd + Prelu', consts: [W('w', [1, 1, 3, 6]), W('b', [6]), W('alpha', [6])], nodes: [conv('y', '_FusedConv2D', 'x', 'w', fused(['BiasAdd', 'Prelu']), ['b', 'alpha'])] },
    { what: '_FusedConv2D BiasAdd + LeakyRelu', consts: [W('w', [3, 3, 3, 2]), W('b', [2])], nodes: [conv('y', '_FusedConv2D', 'x', 'w', fused(['BiasAdd', 'LeakyRelu'], { leakyrelu_alpha: attr.float(0.1) }), ['b'])] },
    { what: '_FusedConv2D BiasAdd + Elu', consts: [W('w', [3, 3, 3, 2]), W('b', [2])], nodes: [conv('y', '_FusedConv2D', 'x', 'w', fused(['BiasAdd', 'Elu']), ['b'])] },
    { what: '_FusedConv2D BiasAdd + Sigmoid', consts: [W('w', [3, 3, 3, 2]), W('b', [2])], nodes: [conv('y', '_FusedConv2D', 'x', 'w', fused(['BiasAdd', 'Sigmoid']), ['b'])] },
    { what: 'FusedDepthwiseConv2dNative multiplier 2, BiasAdd + Relu', consts: [W('w', [3, 3, 3, 2]), W('b', [6])], nodes: [conv('y', 'FusedDepthwiseConv2dNative', 'x', 'w', fused(['BiasAdd', 'Relu']), ['b'])] },
    { what: 'DepthwiseConv2dNative SAME stride 2', consts: [W('w', [3, 3, 3, 1])], nodes: [conv('y', 'DepthwiseConv2dNative', 'x', 'w', { strides: attr.ints([1, 2, 2, 1]) })] },
    {
      what: 'PReLU spelt out (Relu, Abs, Sub, Mul, Add) with a per-channel constant',
      consts: [W('a', [3]), { name: 'half', shape: [], values: [0.5] }],
      nodes: [
        { name: 'r', op: 'Relu', inputs: ['x'] },
        { name: 'abs', op: 'Abs', inputs: ['x'] },
        { name: 'd', op: 'Sub', inputs: ['x', 'abs'] },
        { name: 'm', op: 'Mul', inputs: ['d', 'a'] },
        { name: 'm2', op: 'Mul', inputs: ['m', 'half'] },
        { name: 'y', op: 'Add', inputs: ['r', 'm2'] },
      ],
    },
    {
      what: 'L2 normalization (Square, Sum, Maximum, Rsqrt, Mul) after Squeeze',
      consts: [W('w', [8, 8, 3, 6]), I('axes', [1]), { name: 'eps', shape: [], values: [1e-10] }],
      nodes: [
        conv('c', 'Conv2D', 'x', 'w', { padding: attr.str('VALID') }),
        { name: 's', op: 'Squeeze', inputs: ['c'], attr: { squeeze_dims: attr.ints([1, 2]) } },
        { name: 'sq', op: 'Square', inputs: ['s'] },
        { name: 'sum', op: 'Sum', inputs: ['sq', 'axes'], attr: { keep_dims: attr.bool(true) } },
        { name: 'mx', op: 'Maximum', inputs: ['sum', 'eps'] },
        { name: 'rs', op: 'Rsqrt', inputs: ['mx'] },
        { name: 'y', op: 'Mul', inputs: ['s', 'rs'] },
      ],
    },
    {
      what: 'unary ops: Relu6, Sigmoid, Tanh, Elu, LeakyRelu, Neg, Sqrt, Exp, Reciprocal',
      consts: [{ name: 'one', shape: [], values: [1] }],
      nodes: [
        { name: 'a', op: 'Relu6', inputs: ['x'] },
        { name: 'b', op: 'Sigmoid', inputs: ['a'] },
        { name: 'c', op: 'Tanh', inputs: ['b'] },
        { name: 'd', op: 'Elu', inputs: ['x'] },
        { name: 'e', op: 'LeakyRelu', inputs: ['d'], attr: { alpha: attr.float(0.3) } },
        { name: 'f', op: 'Neg', inputs: ['e'] },
        { name: 'g', op: 'Abs', inputs: ['f'] },
        { name: 'h', op: 'Sqrt', inputs: ['g'] },
        { name: 'i', op: 'Exp', inputs: ['c'] },
        { name: 'j', op: 'AddV2', inputs: ['h', 'one'] },
        { name: 'k', op: 'Reciprocal', inputs: ['j'] },
        { name: 'y', op: 'Add', inputs: ['k', 'i'] },
      ],
    },
    {
      what: 'binary ops with constants on either side: Minimum, RealDiv, Sub, BiasAdd, rank-4 constant',
      consts: [W('c4', [3]), { name: 'two', shape: [], values: [2] }, W('m', [1, 1, 8, 3]), W('bias', [3])],
      nodes: [
        { name: 'a', op: 'Minimum', inputs: ['x', 'c4'] },
        { name: 'b', op: 'RealDiv', inputs: ['a', 'two'] },
        { name: 'c', op: 'Sub', inputs: ['two', 'b'] },
        { name: 'd', op: 'Mul', inputs: ['c', 'm'] },
        { name: 'y', op: 'BiasAdd', inputs: ['d', 'bias'], attr: { data_format: attr.str('NHWC') } },
      ],
    },
    {
      what: 'MaxPool VALID, AvgPool SAME (TF divides by the in-image taps), after a conv',
      consts: [W('w', [1, 1, 3, 3])],
      nodes: [
        conv('c', 'Conv2D', 'x', 'w'),
        { name: 'p', op: 'MaxPool', inputs: ['c'], attr: { ksize: attr.ints([1, 2, 2, 1]), strides: attr.ints([1, 2, 2, 1]), padding: attr.str('VALID'), data_format: attr.str('NHWC') } },
        { name: 'y', op: 'AvgPool', inputs: ['p'], attr: { ksize: attr.ints([1, 3, 3, 1]), strides: attr.ints([1, 2, 2, 1]), padding: attr.str('SAME'), data_format: attr.str('NHWC') } },
      ],
    },
    {
      what: 'Pad on channels and space, PadV2 with a constant',
      consts: [W('w', [1, 1, 3, 3]), I('p1', [0, 0, 1, 0, 0, 2, 0, 3], [4, 2]), I('p2', [0, 0, 0, 1, 1, 0, 0, 0], [4, 2]), { name: 'cv', shape: [], values: [0.5] }],
      nodes: [conv('c', 'Conv2D', 'x', 'w'), { name: 'a', op: 'Pad', inputs: ['c', 'p1'] }, { name: 'y', op: 'PadV2', inputs: ['a', 'p2', 'cv'] }],
    },
    {
      what: 'ConcatV2 on channels, Mean and Max reductions',
      consts: [W('w', [1, 1, 3, 3]), I('axis', [-1], []), I('hw', [1, 2]), I('c', [3])],
      nodes: [
        conv('c1', 'Conv2D', 'x', 'w'),
        { name: 'cat', op: 'ConcatV2', inputs: ['c1', 'x', 'axis'], attr: { N: attr.int(2) } },
        { name: 'mx', op: 'Max', inputs: ['cat', 'c'], attr: { keep_dims: attr.bool(true) } },
        { name: 'add', op: 'Add', inputs: ['cat', 'mx'] },
        { name: 'y', op: 'Mean', inputs: ['add', 'hw'], attr: { keep_dims: attr.bool(false) } },
      ],
    },
    {
      what: 'Reshape reads NHWC order; MatMul (transpose_b) and Softmax',
      consts: [W('w', [3, 3, 3, 2]), I('shape', [-1, 128]), W('fc', [5, 128]), W('fc2', [5, 3])],
      nodes: [
        conv('c', 'Conv2D', 'x', 'w'),
        { name: 'flat', op: 'Reshape', inputs: ['c', 'shape'] },
        { name: 'mm', op: 'MatMul', inputs: ['flat', 'fc'], attr: { transpose_a: attr.bool(false), transpose_b: attr.bool(true) } },
        { name: 'mm2', op: 'MatMul', inputs: ['mm', 'fc2'], attr: { transpose_a: attr.bool(false), transpose_b: attr.bool(false) } },
        { name: 'id', op: 'Identity', inputs: ['mm2'] },
        { name: 'y', op: 'Softmax', inputs: ['id'] },
      ],
    },
  ];

  cases.forEach((c, i) => {
    test(c.what, async () => {
      const path = await writeGraphModel(dir, `case${i}`, { input: c.input ?? X, consts: c.consts, nodes: c.nodes, outputs: ['y'] });
      const r = await convertTfjsModel(path, { task: 'embedder', name: `case${i}`, licence: LICENCE });
      assert.ok(r.parity.relative <= 1e-5, `relative ${r.parity.relative}`);
    });
  });

  test('an unknown op is refused with its name and the node that uses it', async () => {
    const path = await writeGraphModel(dir, 'unknown', {
      input: X,
      consts: [I('axis', [1], [])],
      nodes: [{ name: 'block3/cumsum', op: 'Cumsum', inputs: ['x', 'axis'] }, { name: 'y', op: 'Relu', inputs: ['block3/cumsum'] }],
      outputs: ['y'],
    });
    await assert.rejects(convertTfjsModel(path, { task: 'classifier', name: 'u', licence: LICENCE }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EXPORT_UNSUPPORTED');
      assert.match(err.message, /op "Cumsum" \(node "block3\/cumsum"\) is not supported/);
      assert.match(err.message, /Supported ops: .*_FusedConv2D/);
      return true;
    });
  });

  test('an unsupported fused op is refused naming it', async () => {
    const path = await writeGraphModel(dir, 'fusedbn', {
      input: X,
      consts: [W('w', [1, 1, 3, 2]), W('s', [2]), W('o', [2]), W('mean', [2]), W('var', [2])],
      nodes: [conv('y', '_FusedConv2D', 'x', 'w', fused(['FusedBatchNorm', 'Relu'], { num_args: attr.int(4) }), ['s', 'o', 'mean', 'var'])],
      outputs: ['y'],
    });
    await assert.rejects(convertTfjsModel(path, { task: 'classifier', name: 'f', licence: LICENCE }), { code: 'EXPORT_UNSUPPORTED', message: /node "y" \(_FusedConv2D\) fuses FusedBatchNorm \+ Relu/ });
  });

  test('a model whose ONNX graph differs beyond the tolerance is refused with the report', async () => {
    await assert.rejects(
      convertTfjsModel(join(FIXTURES, 'blazeface-back.json'), { task: 'detector', name: 'bf', licence: LICENCE, parity: { tolerance: 1e-12, samples: 1 } }),
      (err: Error & { code?: string; report?: { relative: number; tolerance: number } }) => {
        assert.equal(err.code, 'EXPORT_PARITY_FAILED');
        assert.match(err.message, /the import is refused/);
        assert.ok(err.report && err.report.relative > err.report.tolerance);
        return true;
      },
    );
  });

  test('missing weight shards and non-graph models are refused before any lowering', async () => {
    await assert.rejects(convertTfjsModel(join(dir, 'nope.json'), { task: 'embedder', name: 'n', licence: LICENCE }), { code: 'IMPORT_SOURCE_INVALID', message: /no such file/ });
    const path = await writeGraphModel(dir, 'noshard', { input: X, consts: [W('w', [1, 1, 3, 2])], nodes: [conv('y', 'Conv2D', 'x', 'w')], outputs: ['y'] });
    const json = JSON.parse(await readFile(path, 'utf8'));
    json.weightsManifest[0].paths = ['missing.bin'];
    await writeFile(path, JSON.stringify(json));
    await assert.rejects(convertTfjsModel(path, { task: 'embedder', name: 'n', licence: LICENCE }), { code: 'IMPORT_SOURCE_INVALID', message: /missing\.bin/ });
    json.format = 'layers-model';
    await writeFile(path, JSON.stringify(json));
    await assert.rejects(convertTfjsModel(path, { task: 'embedder', name: 'n', licence: LICENCE }), { code: 'IMPORT_SOURCE_INVALID', message: /layers models/ });
  });

  test('the CLI writes a servable artifact and prints the parity', async (t) => {
    const out = t.mock.method(console, 'log', () => {});
    const models = join(dir, 'models');
    const code = await importTfjsCommand([join(FIXTURES, 'blazeface-back.json'), '--models', models, '--name', 'bf', '--task', 'detector', '--licence', 'MIT', '--resize', 'letterbox', '--score-threshold', '0.6']);
    assert.equal(code, 0);
    const written = await readArtifact(join(models, 'bf'));
    assert.equal(written.manifest.task, 'detector');
    assert.equal(written.manifest.detector?.scoreThreshold, 0.6);
    assert.equal(written.manifest.provenance.imported, true);
    assert.ok(out.mock.calls.some((c) => /^parity: max abs diff .*, relative .* over 4 inputs/.test(String(c.arguments[0]))));
    await assert.rejects(importTfjsCommand([join(FIXTURES, 'blazeface-back.json'), '--name', 'x', '--task', 'detector']), { code: 'INVALID_ARGUMENT', message: /--licence is required/ });
  });
});
