// Lowers a TensorFlow.js graph model (a frozen TensorFlow GraphDef, NHWC) to ONNX (opset 17).
//   - The graph's inputs and outputs keep TensorFlow's names, shapes and NHWC order; a leading -1
//     becomes the dynamic dimension 'batch'.
//   - Inside, rank-4 activations run in NCHW (ONNX's Conv / pooling layout): a value is moved
//     between NHWC and NCHW by a Transpose only where an op needs the other order (a Reshape
//     reads NHWC memory order, a Conv reads NCHW), and constants are permuted at lowering time.
//   - TF 'SAME' padding becomes explicit `pads` (smaller half first, as TensorFlow computes it);
//     conv kernels go HWIO -> OIHW, depthwise kernels [kh, kw, C, m] -> a Conv with group = C.
//   - Fused ops (_FusedConv2D, FusedDepthwiseConv2dNative: BiasAdd then an activation) become
//     the Conv's bias plus one activation node.
// An op outside SUPPORTED_OPS is refused (EXPORT_UNSUPPORTED) with its name and the node using it.
import { basename } from 'node:path';

import { DEFAULT_OPSET, floatAttr, OnnxGraphBuilder, type Dim } from '../../onnx/onnx-builder.js';
import { resolvePadding } from '../../train/nets/net-graph.js';
import { ExportError } from '../export-error.js';
import { hwioToOihw } from '../lower.js';
import type { TfAttr, TfConst, TfGraphModel, TfNode } from './read-graph-model.js';

const UNARY: Record<string, string> = {
  Relu: 'Relu',
  Abs: 'Abs',
  Neg: 'Neg',
  Sqrt: 'Sqrt',
  Exp: 'Exp',
  Sigmoid: 'Sigmoid',
  Tanh: 'Tanh',
  Elu: 'Elu',
  Reciprocal: 'Reciprocal',
};
const BINARY: Record<string, string> = {
  Add: 'Add',
  AddV2: 'Add',
  BiasAdd: 'Add',
  Sub: 'Sub',
  Mul: 'Mul',
  RealDiv: 'Div',
  Div: 'Div',
  Maximum: 'Max',
  Minimum: 'Min',
};
const REDUCE: Record<string, string> = { Sum: 'ReduceSum', Mean: 'ReduceMean', Max: 'ReduceMax' };
const CONV = ['Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative'];
const OTHER = ['Const', 'Placeholder', 'Identity', 'Square', 'Rsqrt', 'Relu6', 'LeakyRelu', 'Squeeze', 'Reshape', 'Pad', 'PadV2', 'MaxPool', 'AvgPool', 'ConcatV2', 'MatMul', 'Softmax'];

/** Every TensorFlow op the lowering handles. */
export const SUPPORTED_OPS: readonly string[] = [...Object.keys(UNARY), ...Object.keys(BINARY), ...Object.keys(REDUCE), ...CONV, ...OTHER].sort();

/** Activations a fused conv may end with (those TensorFlow.js's fused kernels run). */
const FUSED_ACTIVATIONS = ['Relu', 'Relu6', 'Elu', 'LeakyRelu', 'Prelu', 'Sigmoid'];

/** NHWC axis i sits at NCHW position NCHW_POSITION[i]. */
const NCHW_POSITION = [0, 2, 3, 1];

export interface LoweredGraph {
  /** Serialized ONNX model. */
  bytes: Uint8Array;
  inputs: { name: string; shape: number[] }[];
  /** Output names (the TensorFlow node names) and shapes (-1: the batch). */
  outputs: { name: string; shape: number[] }[];
}

export interface LowerGraphOptions {
  /** Outputs to expose (default: the model's). */
  outputs?: string[];
  /**
   * Appended after the lowering, reading the graph's outputs by name, e.g. to gather several
   * heads into one tensor. Returns the extra outputs it declared.
   */
  extend?: (g: OnnxGraphBuilder, outputs: { name: string; shape: number[] }[]) => { name: string; shape: number[] }[];
  opset?: number;
}

interface Value {
  /** Shape in TensorFlow's order (NHWC for images); -1 for the dynamic batch. */
  shape: number[];
  /** Whether the ONNX tensor holds a rank-4 value in NCHW order (else TensorFlow's order). */
  nchw: boolean;
  /** ONNX name; a constant gets one when something reads it as a tensor. */
  name?: string;
  constant?: TfConst;
  /** The same value in the other order, once written. */
  flipped?: string;
}

export function lowerGraphModel(model: TfGraphModel, options: LowerGraphOptions = {}): LoweredGraph {
  const unknown = model.nodes.filter((n) => !SUPPORTED_OPS.includes(n.op));
  if (unknown.length > 0) {
    const first = unknown[0];
    const ops = [...new Set(unknown.map((n) => n.op))];
    throw new ExportError(
      'EXPORT_UNSUPPORTED',
      `${model.path}: op "${first.op}" (node "${first.name}") is not supported` +
        (ops.length > 1 ? `; nor are ${ops.slice(1).map((o) => `"${o}"`).join(', ')}` : '') +
        `. Supported ops: ${SUPPORTED_OPS.join(', ')}`,
    );
  }
  return new GraphLowering(model).run(options);
}

class GraphLowering {
  readonly g: OnnxGraphBuilder;
  private readonly values = new Map<string, Value>();
  private readonly byName: Map<string, TfNode>;

  constructor(private readonly model: TfGraphModel) {
    // Named after the file alone: the same model.json gives the same bytes wherever it lies.
    this.g = new OnnxGraphBuilder(basename(model.path));
    this.byName = new Map(model.nodes.map((n) => [n.name, n]));
  }

  run(options: LowerGraphOptions): LoweredGraph {
    const inputs = this.model.inputs.map((name) => {
      const node = this.byName.get(name);
      if (!node || node.op !== 'Placeholder') throw this.fail(`input "${name}" is not a Placeholder of the graph`);
      const shape = dims(node.attr?.shape?.shape?.dim, `input "${name}"`, this.model.path);
      shape.forEach((d, i) => {
        if (d < 0 && i > 0) throw this.fail(`input "${name}" has a dynamic dimension ${i} ([${shape.join(', ')}]); only the batch (dimension 0) may be dynamic`);
      });
      this.values.set(name, { shape, nchw: false, name: this.g.addInput(name, shape.map(symbolic)) });
      return { name, shape };
    });
    const wanted = options.outputs ?? this.model.outputs;
    const outputs: { name: string; shape: number[] }[] = [];
    for (const name of wanted) {
      const value = this.value(name);
      if (value.constant) throw this.fail(`output "${name}" is a constant`);
      this.g.addNode({ op: 'Identity', inputs: [this.tf(value)], outputs: [name] });
      this.g.addOutput(name, value.shape.map(symbolic));
      outputs.push({ name, shape: value.shape });
    }
    const extra = options.extend?.(this.g, outputs) ?? [];
    const bytes = this.g.toBytes({
      opset: options.opset ?? DEFAULT_OPSET,
      docString: `imported from TensorFlow.js graph model ${basename(this.model.path)} (${this.model.meta.generatedBy ?? 'unknown generator'})`,
    });
    return { bytes, inputs, outputs: [...outputs, ...extra] };
  }

  /** The value a TensorFlow input reference ("name", "name:0") denotes, lowering on demand. */
  private value(ref: string): Value {
    const name = ref.replace(/:0$/, '');
    const known = this.values.get(name);
    if (known) return known;
    if (/:\d+$/.test(name)) throw this.fail(`"${ref}": only the first output of a node can be read`);
    const node = this.byName.get(name);
    if (!node) throw this.fail(`"${ref}" is read but no node has that name`);
    // Depth-first over the inputs, iteratively (graphs are deep).
    const stack: TfNode[] = [node];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const pending = dataInputs(top).map((r) => r.replace(/:0$/, '')).filter((r) => !this.values.has(r));
      if (pending.length > 0) {
        for (const p of pending) {
          const dep = this.byName.get(p);
          if (!dep) throw this.fail(`node "${top.name}" reads "${p}", which no node produces`);
          stack.push(dep);
        }
        continue;
      }
      stack.pop();
      if (!this.values.has(top.name)) this.values.set(top.name, this.lower(top));
    }
    return this.values.get(name)!;
  }

  private lower(node: TfNode): Value {
    const inputs = dataInputs(node).map((r) => this.values.get(r.replace(/:0$/, ''))!);
    const op = node.op;
    if (op === 'Const') {
      const constant = this.model.weights.get(node.name);
      if (!constant) throw this.fail(`constant "${node.name}" has no values in the weight shards`);
      return { shape: constant.shape, nchw: false, constant };
    }
    if (op === 'Placeholder') throw this.fail(`Placeholder "${node.name}" is not among the graph's inputs`);
    if (op === 'Identity') return inputs[0];
    if (UNARY[op]) return this.unary(node, UNARY[op], inputs[0]);
    if (BINARY[op]) return this.binary(node, BINARY[op], inputs);
    if (REDUCE[op]) return this.reduce(node, REDUCE[op], inputs);
    if (CONV.includes(op)) return this.conv(node, inputs);
    switch (op) {
      case 'Square': {
        const x = this.operand(inputs[0], inputs[0].nchw);
        return { ...this.like(inputs[0]), name: this.g.op('Mul', [x, x], undefined, this.fresh(node)) };
      }
      case 'Rsqrt': {
        const x = this.operand(inputs[0], inputs[0].nchw);
        return { ...this.like(inputs[0]), name: this.g.op('Reciprocal', [this.g.op('Sqrt', [x])], undefined, this.fresh(node)) };
      }
      case 'Relu6':
      case 'LeakyRelu':
        return { ...this.like(inputs[0]), name: this.activation(node, op, this.operand(inputs[0], inputs[0].nchw), node.attr?.alpha?.f) };
      case 'Squeeze':
        return this.squeeze(node, inputs[0]);
      case 'Reshape':
        return this.reshape(node, inputs);
      case 'Pad':
      case 'PadV2':
        return this.pad(node, inputs);
      case 'MaxPool':
      case 'AvgPool':
        return this.pool(node, inputs[0]);
      case 'ConcatV2':
        return this.concat(node, inputs);
      case 'MatMul':
        return this.matmul(node, inputs);
      case 'Softmax':
        return { shape: inputs[0].shape, nchw: false, name: this.g.op('Softmax', [this.tf(inputs[0])], { axis: -1 }, this.fresh(node)) };
      default:
        throw this.fail(`op "${op}" (node "${node.name}") is not supported`);
    }
  }

  private unary(node: TfNode, onnxOp: string, x: Value): Value {
    const attributes = onnxOp === 'Elu' ? { alpha: floatAttr(1) } : undefined;
    return { ...this.like(x), name: this.g.op(onnxOp, [this.operand(x, x.nchw)], attributes, this.fresh(node)) };
  }

  /** Elementwise with NumPy broadcasting; runs in NCHW when a rank-4 operand is NCHW. */
  private binary(node: TfNode, onnxOp: string, inputs: Value[]): Value {
    const shape = broadcastShapes(inputs.map((v) => v.shape), node.name, this.model.path);
    const nchw = shape.length === 4 && inputs.some((v) => v.nchw) && inputs.every((v) => v.constant || v.shape.length === 4);
    return { shape, nchw, name: this.g.op(onnxOp, inputs.map((v) => this.operand(v, nchw)), undefined, this.fresh(node)) };
  }

  private reduce(node: TfNode, onnxOp: string, [x, axesValue]: Value[]): Value {
    const keep = node.attr?.keep_dims?.b === true;
    const axes = [...this.constInts(axesValue, node, 'axes')].map((a) => normalizeAxis(a, x.shape.length));
    const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const nchw = x.nchw && (keep || keepsOrder(axes));
    const onnxAxes = nchw ? axes.map((a) => NCHW_POSITION[a]) : axes;
    const data = nchw ? this.nchw(x) : this.tf(x);
    // opset 17: ReduceSum takes its axes as an input, ReduceMean / ReduceMax as an attribute.
    const name =
      onnxOp === 'ReduceSum'
        ? this.g.op(onnxOp, [data, this.g.addInt64(this.g.fresh('axes'), [onnxAxes.length], onnxAxes)], { keepdims: keep ? 1 : 0 }, this.fresh(node))
        : this.g.op(onnxOp, [data], { axes: onnxAxes, keepdims: keep ? 1 : 0 }, this.fresh(node));
    return { shape, nchw: nchw && shape.length === 4, name };
  }

  private conv(node: TfNode, [x, filterValue, ...args]: Value[]): Value {
    if (x.shape.length !== 4) throw this.fail(`node "${node.name}" (${node.op}) reads a rank-${x.shape.length} value; expected NHWC`);
    const format = str(node.attr?.data_format) ?? 'NHWC';
    if (format !== 'NHWC') throw this.fail(`node "${node.name}" (${node.op}) has data_format ${format}; only NHWC graphs are supported`);
    const filter = this.constant(filterValue, node, 'filter');
    const [kh, kw, cin, m] = filter.shape;
    const depthwise = node.op.includes('Depthwise');
    const strides = ints(node.attr?.strides) ?? [1, 1, 1, 1];
    const dilations = ints(node.attr?.dilations) ?? [1, 1, 1, 1];
    const [, h, w] = x.shape;
    const pads = this.padding(node, [h, w], [kh, kw], [strides[1], strides[2]], [dilations[1], dilations[2]]);
    const cout = depthwise ? cin * m : m;
    const oihw = depthwise ? hwioToOihw(filter.values as Float32Array, kh, kw, 1, cout) : hwioToOihw(filter.values as Float32Array, kh, kw, cin, cout);

    const fused = strs(node.attr?.fused_ops) ?? [];
    const fusedAllowed = fused.length === 0 || (fused[0] === 'BiasAdd' && fused.length <= 2 && (fused.length === 1 || FUSED_ACTIVATIONS.includes(fused[1])));
    if (!fusedAllowed || (fused.length > 0 && !node.op.includes('Fused'))) {
      throw this.fail(`node "${node.name}" (${node.op}) fuses ${fused.join(' + ')}; supported: BiasAdd, optionally followed by one of ${FUSED_ACTIVATIONS.join(', ')}`);
    }
    const convInputs = [this.nchw(x), this.g.addFloat(this.g.fresh(`${node.name}/weights`), [cout, depthwise ? 1 : cin, kh, kw], oihw)];
    if (fused[0] === 'BiasAdd') {
      const bias = this.constant(args[0], node, 'bias');
      if (bias.values.length !== cout) throw this.fail(`node "${node.name}": bias has ${bias.values.length} values for ${cout} output channels`);
      convInputs.push(this.g.addFloat(this.g.fresh(`${node.name}/bias`), [cout], bias.values as Float32Array));
    }
    const outH = Math.floor((h + pads[0] + pads[1] - ((kh - 1) * dilations[1] + 1)) / strides[1]) + 1;
    const outW = Math.floor((w + pads[2] + pads[3] - ((kw - 1) * dilations[2] + 1)) / strides[2]) + 1;
    let out = this.g.op(
      'Conv',
      convInputs,
      { kernel_shape: [kh, kw], strides: [strides[1], strides[2]], dilations: [dilations[1], dilations[2]], pads: [pads[0], pads[2], pads[1], pads[3]], group: depthwise ? cin : 1 },
      this.g.fresh(node.name),
    );
    if (fused[1]) {
      const alpha = fused[1] === 'Prelu' ? args[1] : undefined;
      out = this.activation(node, fused[1], out, node.attr?.leakyrelu_alpha?.f, alpha);
    }
    return { shape: [x.shape[0], outH, outW, cout], nchw: true, name: out };
  }

  /** An activation of an NCHW or TF-ordered tensor `x` (Prelu: alpha per channel, NCHW). */
  private activation(node: TfNode, act: string, x: string, leakyAlpha?: number, prelu?: Value): string {
    const g = this.g;
    const out = this.fresh(node);
    switch (act) {
      case 'Relu':
      case 'Sigmoid':
        return g.op(act, [x], undefined, out);
      case 'Elu':
        return g.op('Elu', [x], { alpha: floatAttr(1) }, out);
      case 'Relu6':
        return g.op('Clip', [x, g.addFloat(g.fresh('zero'), [], [0]), g.addFloat(g.fresh('six'), [], [6])], undefined, out);
      case 'LeakyRelu':
        return g.op('LeakyRelu', [x], { alpha: floatAttr(leakyAlpha ?? 0.2) }, out);
      case 'Prelu': {
        const alpha = this.constant(prelu, node, 'prelu alpha');
        const c = alpha.values.length;
        return g.op('PRelu', [x, g.addFloat(g.fresh(`${node.name}/alpha`), [c, 1, 1], alpha.values as Float32Array)], undefined, out);
      }
      default:
        throw this.fail(`node "${node.name}": activation ${act} is not supported`);
    }
  }

  private squeeze(node: TfNode, x: Value): Value {
    const listed = ints(node.attr?.squeeze_dims) ?? ints(node.attr?.axis) ?? [];
    const axes = (listed.length > 0 ? listed : x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normalizeAxis(a, x.shape.length));
    for (const a of axes) if (x.shape[a] !== 1) throw this.fail(`node "${node.name}" squeezes axis ${a} of size ${x.shape[a]}`);
    const shape = x.shape.filter((_, i) => !axes.includes(i));
    const nchw = x.nchw && keepsOrder(axes);
    const onnxAxes = nchw ? axes.map((a) => NCHW_POSITION[a]) : axes;
    const data = nchw ? this.nchw(x) : this.tf(x);
    const name = this.g.op('Squeeze', [data, this.g.addInt64(this.g.fresh('axes'), [onnxAxes.length], onnxAxes)], undefined, this.fresh(node));
    return { shape, nchw: nchw && shape.length === 4, name };
  }

  private reshape(node: TfNode, [x, shapeValue]: Value[]): Value {
    const target = [...this.constInts(shapeValue, node, 'shape')];
    if (target.includes(0)) throw this.fail(`node "${node.name}" reshapes to [${target.join(', ')}]: zero-sized dimensions are not supported`);
    const known = x.shape.every((d) => d > 0);
    const size = x.shape.reduce((a, d) => a * Math.max(d, 1), 1);
    const rest = target.reduce((a, d) => a * (d === -1 ? 1 : d), 1);
    // A -1 with a fully known input is resolved; with a dynamic batch it stands for the batch.
    const shape = target.map((d) => (d === -1 && known ? size / rest : d));
    const name = this.g.op('Reshape', [this.tf(x), this.g.addInt64(this.g.fresh('shape'), [target.length], target)], undefined, this.fresh(node));
    return { shape, nchw: false, name };
  }

  private pad(node: TfNode, [x, paddingsValue, constantValue]: Value[]): Value {
    const p = this.constInts(paddingsValue, node, 'paddings');
    const r = x.shape.length;
    if (p.length !== 2 * r) throw this.fail(`node "${node.name}": ${p.length / 2} paddings for a rank-${r} value`);
    const nchw = x.nchw;
    const begins = new Array<number>(r);
    const ends = new Array<number>(r);
    for (let i = 0; i < r; i++) {
      const at = nchw ? NCHW_POSITION[i] : i;
      begins[at] = p[2 * i];
      ends[at] = p[2 * i + 1];
    }
    const inputs = [nchw ? this.nchw(x) : this.tf(x), this.g.addInt64(this.g.fresh('pads'), [2 * r], [...begins, ...ends])];
    if (constantValue) inputs.push(this.g.addFloat(this.g.fresh('pad_value'), [], [this.constant(constantValue, node, 'constant_values').values[0]]));
    const shape = x.shape.map((d, i) => (d < 0 ? d : d + p[2 * i] + p[2 * i + 1]));
    return { shape, nchw, name: this.g.op('Pad', inputs, { mode: 'constant' }, this.fresh(node)) };
  }

  private pool(node: TfNode, x: Value): Value {
    const format = str(node.attr?.data_format) ?? 'NHWC';
    if (format !== 'NHWC' || x.shape.length !== 4) throw this.fail(`node "${node.name}" (${node.op}) needs an NHWC rank-4 input`);
    const k = ints(node.attr?.ksize) ?? [1, 1, 1, 1];
    const s = ints(node.attr?.strides) ?? [1, 1, 1, 1];
    if (k[0] !== 1 || k[3] !== 1) throw this.fail(`node "${node.name}" (${node.op}) pools over batch or channels (ksize [${k.join(', ')}])`);
    const [, h, w, c] = x.shape;
    const pads = this.padding(node, [h, w], [k[1], k[2]], [s[1], s[2]], [1, 1]);
    const outH = Math.floor((h + pads[0] + pads[1] - k[1]) / s[1]) + 1;
    const outW = Math.floor((w + pads[2] + pads[3] - k[2]) / s[2]) + 1;
    // TensorFlow's SAME average pooling divides by the in-image taps only.
    const attributes = { kernel_shape: [k[1], k[2]], strides: [s[1], s[2]], pads: [pads[0], pads[2], pads[1], pads[3]], ...(node.op === 'AvgPool' ? { count_include_pad: 0 } : {}) };
    const name = this.g.op(node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [this.nchw(x)], attributes, this.fresh(node));
    return { shape: [x.shape[0], outH, outW, c], nchw: true, name };
  }

  private concat(node: TfNode, inputs: Value[]): Value {
    const parts = inputs.slice(0, -1);
    const r = parts[0].shape.length;
    const axis = normalizeAxis(this.constInts(inputs[inputs.length - 1], node, 'axis')[0], r);
    const nchw = r === 4 && parts.some((v) => v.nchw) && parts.every((v) => v.shape.length === 4);
    const shape = parts[0].shape.map((d, i) => (i === axis ? parts.reduce((n, v) => n + v.shape[i], 0) : d));
    const name = this.g.op('Concat', parts.map((v) => this.operand(v, nchw)), { axis: nchw ? NCHW_POSITION[axis] : axis }, this.fresh(node));
    return { shape, nchw, name };
  }

  private matmul(node: TfNode, [a, b]: Value[]): Value {
    const ta = node.attr?.transpose_a?.b === true;
    const tb = node.attr?.transpose_b?.b === true;
    if (a.shape.length !== 2 || b.shape.length !== 2) throw this.fail(`node "${node.name}" (MatMul) multiplies rank ${a.shape.length} by rank ${b.shape.length}; only matrices are supported`);
    const name = this.g.op('Gemm', [this.tf(a), this.tf(b)], { transA: ta ? 1 : 0, transB: tb ? 1 : 0 }, this.fresh(node));
    return { shape: [ta ? a.shape[1] : a.shape[0], tb ? b.shape[0] : b.shape[1]], nchw: false, name };
  }

  /** [top, bottom, left, right] of a conv or pooling node, from its padding attribute. */
  private padding(node: TfNode, input: [number, number], kernel: [number, number], strides: [number, number], dilations: [number, number]): [number, number, number, number] {
    const mode = str(node.attr?.padding) ?? 'VALID';
    if (mode === 'EXPLICIT') {
      const e = ints(node.attr?.explicit_paddings) ?? [];
      if (e.length !== 8) throw this.fail(`node "${node.name}": explicit_paddings has ${e.length} values, expected 8`);
      return [e[2], e[3], e[4], e[5]];
    }
    if (mode !== 'SAME' && mode !== 'VALID') throw this.fail(`node "${node.name}": padding "${mode}" is not SAME, VALID or EXPLICIT`);
    if (input.some((d) => d <= 0)) throw this.fail(`node "${node.name}": ${mode} padding needs a known spatial size, got ${input.join('x')}`);
    return resolvePadding(mode === 'SAME' ? 'same' : 'valid', input, kernel, strides, dilations);
  }

  /** The operand in NCHW (for an NCHW op) or TensorFlow's order; constants broadcast either way. */
  private operand(v: Value, nchw: boolean): string {
    if (v.constant) return this.constName(v.constant, nchw);
    return nchw ? this.nchw(v) : this.tf(v);
  }

  private tf(v: Value): string {
    if (v.constant) return this.constName(v.constant, false);
    if (!v.nchw) return v.name!;
    v.flipped ??= this.g.op('Transpose', [v.name!], { perm: [0, 2, 3, 1] });
    return v.flipped;
  }

  private nchw(v: Value): string {
    if (v.constant) return this.constName(v.constant, true);
    if (v.nchw) return v.name!;
    if (v.shape.length !== 4) throw this.fail(`a rank-${v.shape.length} value cannot be used as an NCHW image`);
    v.flipped ??= this.g.op('Transpose', [v.name!], { perm: [0, 3, 1, 2] });
    return v.flipped;
  }

  /** A float constant as an initializer; for NCHW use, permuted so it broadcasts as it did in NHWC. */
  private constName(c: TfConst, nchw: boolean): string {
    if (c.dtype !== 'float32') throw this.fail(`an int32 constant is used as a float operand`);
    if (!nchw || c.shape.length <= 1 && c.values.length === 1) return this.g.addFloat(this.g.fresh('const'), c.shape, c.values as Float32Array);
    if (c.shape.length > 4) throw this.fail(`a rank-${c.shape.length} constant cannot broadcast against an image`);
    const [n, h, w, ch] = [...Array(4 - c.shape.length).fill(1), ...c.shape] as number[];
    const out = new Float32Array(c.values.length);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let k = 0; k < ch; k++) out[((b * ch + k) * h + y) * w + x] = c.values[((b * h + y) * w + x) * ch + k];
        }
      }
    }
    const dimsNchw = c.shape.length === 1 ? [ch, 1, 1] : [n, ch, h, w];
    return this.g.addFloat(this.g.fresh('const'), dimsNchw, out);
  }

  private constant(v: Value | undefined, node: TfNode, what: string): TfConst {
    if (!v?.constant) throw this.fail(`node "${node.name}" (${node.op}): its ${what} must be a constant`);
    return v.constant;
  }

  private constInts(v: Value | undefined, node: TfNode, what: string): number[] {
    return Array.from(this.constant(v, node, what).values);
  }

  /** Shape and order of a unary op's result. */
  private like(x: Value): Pick<Value, 'shape' | 'nchw'> {
    return { shape: x.shape, nchw: x.nchw };
  }

  private fresh(node: TfNode): string {
    return this.g.fresh(node.name);
  }

  private fail(message: string): ExportError {
    return new ExportError('EXPORT_UNSUPPORTED', `${this.model.path}: ${message}`);
  }
}

/** A node's data inputs (control inputs "^name" dropped). */
function dataInputs(node: TfNode): string[] {
  return (node.input ?? []).filter((i) => !i.startsWith('^'));
}

/** Whether dropping `axes` from an NCHW tensor leaves the rest in TensorFlow's (NHWC) order. */
function keepsOrder(axes: number[]): boolean {
  const kept = [0, 1, 2, 3].filter((a) => !axes.includes(a)).map((a) => NCHW_POSITION[a]);
  return kept.every((p, i) => i === 0 || p > kept[i - 1]);
}

function normalizeAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

function broadcastShapes(shapes: number[][], name: string, path: string): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const ds = shapes.map((s) => s[s.length - rank + i] ?? 1);
    const fixed = [...new Set(ds.filter((d) => d !== 1 && d !== -1))];
    if (fixed.length > 1) throw new ExportError('EXPORT_UNSUPPORTED', `${path}: node "${name}" broadcasts incompatible shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(' and ')}`);
    out.push(fixed[0] ?? (ds.includes(-1) ? -1 : 1));
  }
  return out;
}

function symbolic(d: number): Dim {
  return d < 0 ? 'batch' : d;
}

function dims(list: { size?: string }[] | undefined, what: string, path: string): number[] {
  if (!list) throw new ExportError('EXPORT_UNSUPPORTED', `${path}: ${what} has no shape`);
  return list.map((d) => Number(d.size ?? -1));
}

function ints(a: TfAttr | undefined): number[] | undefined {
  return a?.list?.i?.map(Number);
}

function strs(a: TfAttr | undefined): string[] | undefined {
  return a?.list?.s?.map((s) => Buffer.from(s, 'base64').toString('utf8'));
}

function str(a: TfAttr | undefined): string | undefined {
  return a?.s === undefined ? undefined : Buffer.from(a.s, 'base64').toString('utf8');
}
