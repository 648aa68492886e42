// Lowers a Net's layer graph (src/train/nets/net-graph.ts) to ONNX (opset 17): NCHW float32
// input [batch, C, H, W], output [batch, D].
//   - batch norm directly after a conv / depthwise conv / dense (its only reader) is folded into
//     that layer's weights and bias; any other batch norm becomes a per-channel Mul + Add;
//   - TF 'same' padding is written out in `pads`, as tfjs computes it (asymmetric at stride 2);
//   - kernels go HWIO -> OIHW; a depthwise kernel [kh, kw, C, m] becomes a Conv with group=C;
//   - flatten is NHWC-ordered in tfjs: a dense layer reading it gets its weight rows permuted to
//     NCHW order (no Transpose at run time); any other reader gets Transpose + Flatten;
//   - dropout is the identity; softmax or L2 normalization may be appended.
import type { NamedWeights, Net } from '../train/nets/net.js';
import { GRAPH_INPUT, resolvePadding, valueShapes, type BatchNormNode, type GraphNode, type NetGraph, type ValueShape } from '../train/nets/net-graph.js';
import { ExportError } from './export-error.js';
import { DEFAULT_OPSET, OnnxGraphBuilder } from '../onnx/onnx-builder.js';

/** What the exported graph appends after the net's output. */
export type OutputAppend = 'softmax' | 'l2norm';

export interface LowerOptions {
  /** Graph input name (default 'input'). */
  inputName?: string;
  /** Graph output name (default 'output'). */
  outputName?: string;
  /** softmax: probabilities from logits; l2norm: x / max(||x||, l2Epsilon). */
  append?: OutputAppend;
  /** Default 1e-12 (PyTorch F.normalize). */
  l2Epsilon?: number;
  opset?: number;
}

export const DEFAULT_INPUT_NAME = 'input';
export const DEFAULT_OUTPUT_NAME = 'output';
export const DEFAULT_L2_EPSILON = 1e-12;

/** A value as it exists in the ONNX graph. */
type Lowered =
  | { kind: 'map' | 'vec'; name: string }
  /** An NHWC flatten not yet written: the NCHW map it reads; `name` once materialized. */
  | { kind: 'flat'; nchw: string; h: number; w: number; c: number; name?: string };

/** Serialized ONNX model of `net` with the weights it holds now. */
export function lowerToOnnx(net: Net, opts: LowerOptions = {}): Uint8Array {
  const inputName = opts.inputName ?? DEFAULT_INPUT_NAME;
  const outputName = opts.outputName ?? DEFAULT_OUTPUT_NAME;
  if (inputName === outputName) {
    throw new ExportError('EXPORT_OPTIONS_INVALID', `input and output names must differ (both "${inputName}")`);
  }
  const lowering = new Lowering(net.graph, net.getWeights(), inputName, opts.l2Epsilon ?? DEFAULT_L2_EPSILON);
  const out = lowering.run(opts.append);
  const g = lowering.g;
  try {
    g.renameValue(out, outputName);
  } catch (cause) {
    throw new ExportError('EXPORT_OPTIONS_INVALID', `output name "${outputName}" clashes with a name inside the graph; choose another`, { cause });
  }
  g.addOutput(outputName, ['batch', net.outputDim]);
  const [h, w, c] = net.inputShape;
  return g.toBytes({
    opset: opts.opset ?? DEFAULT_OPSET,
    docString:
      `${net.name}: ${inputName} float32 NCHW [batch, ${c}, ${h}, ${w}] -> ${outputName} [batch, ${net.outputDim}]` +
      (opts.append ? ` (${opts.append} appended)` : ''),
  });
}

class Lowering {
  readonly g: OnnxGraphBuilder;
  private readonly values = new Map<string, Lowered>();
  private readonly shapes: Map<string, ValueShape>;
  private readonly readers = new Map<string, GraphNode[]>();
  private readonly folded = new Set<string>();

  constructor(
    private readonly graph: NetGraph,
    private readonly weights: NamedWeights,
    inputName: string,
    private readonly l2Epsilon: number,
  ) {
    this.g = new OnnxGraphBuilder(graph.name);
    this.shapes = valueShapes(graph);
    const [h, w, c] = graph.inputShape;
    this.values.set(GRAPH_INPUT, { kind: 'map', name: this.g.addInput(inputName, ['batch', c, h, w]) });
    for (const node of graph.nodes) {
      for (const id of node.inputs) this.readers.set(id, [...(this.readers.get(id) ?? []), node]);
    }
  }

  /** Lowers every node; returns the name of the final value. */
  run(append?: OutputAppend): string {
    for (const node of this.graph.nodes) {
      if (this.folded.has(node.id)) continue;
      const lowered = this.lower(node);
      this.values.set(node.id, lowered);
      const bn = this.foldTarget(node);
      if (bn) {
        // Readers of the batch norm read the layer it was folded into.
        this.folded.add(bn.id);
        this.values.set(bn.id, lowered);
      }
    }
    let out = this.tensor(this.graph.output);
    if (append === 'softmax') out = this.g.op('Softmax', [out], { axis: 1 });
    else if (append === 'l2norm') out = this.l2normalize(out, this.l2Epsilon);
    else if (append !== undefined) throw new ExportError('EXPORT_OPTIONS_INVALID', `unknown output append "${append}"; use softmax or l2norm`);
    return out;
  }

  private lower(node: GraphNode): Lowered {
    const g = this.g;
    const id = node.id;
    switch (node.op) {
      case 'conv2d':
      case 'depthwiseConv2d':
        return { kind: 'map', name: this.conv(node) };
      case 'batchNorm': {
        const rank4 = node.shape.length === 3;
        const { scale, shift } = bnAffine(node, this.weights);
        const dims = rank4 ? [scale.length, 1, 1] : [scale.length];
        const x = this.tensor(node.inputs[0]);
        const scaled = g.op('Mul', [x, g.addFloat(`${id}.scale`, dims, Float32Array.from(scale))], undefined, g.fresh(id));
        return { kind: rank4 ? 'map' : 'vec', name: g.op('Add', [scaled, g.addFloat(`${id}.shift`, dims, Float32Array.from(shift))], undefined, g.fresh(id)) };
      }
      case 'relu':
        return this.same(node, g.op('Relu', [this.tensor(node.inputs[0])], undefined, g.fresh(id)));
      case 'prelu': {
        const alpha = this.param(`${id}.weight`);
        const dims = node.shape.length === 3 ? [alpha.length, 1, 1] : [alpha.length];
        return this.same(node, g.op('PRelu', [this.tensor(node.inputs[0]), g.addFloat(`${id}.weight`, dims, alpha)], undefined, g.fresh(id)));
      }
      case 'add':
        return this.same(node, g.op('Add', node.inputs.map((i) => this.tensor(i)), undefined, g.fresh(id)));
      case 'globalAvgPool':
        return { kind: 'vec', name: g.op('ReduceMean', [this.tensor(node.inputs[0])], { axes: [2, 3], keepdims: 0 }, g.fresh(id)) };
      case 'flatten': {
        const s = this.shapes.get(node.inputs[0]);
        const x = this.tensor(node.inputs[0]);
        if (!s || s.length === 1) return { kind: 'vec', name: x };
        const [h, w, c] = s;
        // NHWC and NCHW orders agree when the map is 1x1 or has one channel.
        if (h * w === 1 || c === 1) return { kind: 'vec', name: g.op('Flatten', [x], { axis: 1 }, g.fresh(id)) };
        return { kind: 'flat', nchw: x, h, w, c };
      }
      case 'dense':
        return { kind: 'vec', name: this.dense(node) };
      case 'dropout': {
        const v = this.values.get(node.inputs[0]);
        if (!v) throw this.missing(node.inputs[0]);
        return v;
      }
      case 'l2normalize':
        return { kind: 'vec', name: this.l2normalize(this.tensor(node.inputs[0]), node.epsilon) };
      case 'softmax':
        return { kind: 'vec', name: g.op('Softmax', [this.tensor(node.inputs[0])], { axis: 1 }, g.fresh(id)) };
      default:
        throw new ExportError('EXPORT_UNSUPPORTED', `${this.graph.name}: cannot lower node "${(node as GraphNode).id}" of op "${(node as GraphNode).op}"`);
    }
  }

  private conv(node: Extract<GraphNode, { op: 'conv2d' | 'depthwiseConv2d' }>): string {
    const id = node.id;
    const [h, w, cin] = this.shapes.get(node.inputs[0]) as [number, number, number];
    const [kh, kw] = node.kernel;
    const hwio = this.param(`${id}.weight`);
    let oihw: Float32Array;
    let group: number;
    if (node.op === 'conv2d') {
      oihw = hwioToOihw(hwio, kh, kw, cin / node.groups, node.filters);
      group = node.groups;
    } else {
      // [kh, kw, C, m] -> [C*m, 1, kh, kw]: output channel c*m + j reads input channel c.
      oihw = hwioToOihw(hwio, kh, kw, 1, cin * node.multiplier);
      group = cin;
    }
    const cout = node.shape[2] as number;
    const bias = node.bias ? Float64Array.from(this.param(`${id}.bias`)) : undefined;
    const { weights, bias: foldedBias, output } = this.fold(node, oihw, cout, 'rows', bias);
    const [t, b, l, r] = resolvePadding(node.padding, [h, w], node.kernel, node.strides, node.dilations);
    const inputs = [this.tensor(node.inputs[0]), this.g.addFloat(`${id}.weight`, [cout, oihw.length / cout / (kh * kw), kh, kw], weights)];
    if (foldedBias) inputs.push(this.g.addFloat(`${id}.bias`, [cout], foldedBias));
    return this.g.op(
      'Conv',
      inputs,
      { kernel_shape: [kh, kw], strides: node.strides, dilations: node.dilations, pads: [t, l, b, r], group },
      this.g.fresh(output),
    );
  }

  private dense(node: Extract<GraphNode, { op: 'dense' }>): string {
    const id = node.id;
    const src = this.values.get(node.inputs[0]);
    if (!src) throw this.missing(node.inputs[0]);
    let kernel = this.param(`${id}.weight`); // [in, out]
    const units = node.units;
    const inDim = kernel.length / units;
    let x: string;
    if (src.kind === 'flat' && src.name === undefined) {
      // Row i of the kernel reads NHWC position (hh, ww, cc); ONNX flattens NCHW, where that
      // element sits at cc*h*w + hh*w + ww.
      const { h, w, c } = src;
      const permuted = new Float32Array(kernel.length);
      for (let hh = 0; hh < h; hh++) {
        for (let ww = 0; ww < w; ww++) {
          for (let cc = 0; cc < c; cc++) {
            const i = (hh * w + ww) * c + cc;
            const j = cc * h * w + hh * w + ww;
            permuted.set(kernel.subarray(i * units, (i + 1) * units), j * units);
          }
        }
      }
      kernel = permuted;
      x = this.g.op('Flatten', [src.nchw], { axis: 1 }, this.g.fresh(`${node.inputs[0]}`));
    } else {
      x = this.tensor(node.inputs[0]);
    }
    const bias = node.bias ? Float64Array.from(this.param(`${id}.bias`)) : undefined;
    const { weights, bias: foldedBias, output } = this.fold(node, kernel, units, 'columns', bias);
    const inputs = [x, this.g.addFloat(`${id}.weight`, [inDim, units], weights)];
    if (foldedBias) inputs.push(this.g.addFloat(`${id}.bias`, [units], foldedBias));
    return this.g.op('Gemm', inputs, undefined, this.g.fresh(output));
  }

  /** The batch norm to fold into a conv / depthwise / dense layer: its only reader, if it is one. */
  private foldTarget(node: GraphNode): BatchNormNode | undefined {
    if (node.op !== 'conv2d' && node.op !== 'depthwiseConv2d' && node.op !== 'dense') return undefined;
    const readers = this.readers.get(node.id) ?? [];
    if (node.id === this.graph.output || readers.length !== 1 || readers[0].op !== 'batchNorm') return undefined;
    return readers[0];
  }

  /**
   * Folds the following batch norm, if any, into a layer: W'[o] = W[o]*s[o],
   * b'[o] = b[o]*s[o] + (beta[o] - mean[o]*s[o]) with s = gamma/sqrt(var + eps). Output channel
   * o owns a contiguous block of `weights` ('rows': OIHW) or every channels-th element
   * ('columns': a dense kernel [in, out]). Returns the name for the layer's output.
   */
  private fold(
    node: GraphNode,
    weights: Float32Array,
    channels: number,
    layout: 'rows' | 'columns',
    bias: Float64Array | undefined,
  ): { weights: Float32Array; bias?: Float32Array; output: string } {
    const bn = this.foldTarget(node);
    if (!bn) return { weights, bias: bias ? Float32Array.from(bias) : undefined, output: node.id };
    const { scale, shift } = bnAffine(bn, this.weights);
    const out = new Float32Array(weights.length);
    const block = weights.length / channels;
    if (layout === 'rows') {
      for (let o = 0; o < channels; o++) {
        const s = scale[o];
        for (let i = o * block, end = i + block; i < end; i++) out[i] = weights[i] * s;
      }
    } else {
      for (let r = 0; r < block; r++) {
        const off = r * channels;
        for (let o = 0; o < channels; o++) out[off + o] = weights[off + o] * scale[o];
      }
    }
    const b = new Float32Array(channels);
    for (let o = 0; o < channels; o++) b[o] = (bias ? bias[o] : 0) * scale[o] + shift[o];
    return { weights: out, bias: b, output: bn.id };
  }

  /** The ONNX name of a value, writing out a pending NHWC flatten if needed. */
  private tensor(id: string): string {
    const v = this.values.get(id);
    if (!v) throw this.missing(id);
    if (v.kind !== 'flat') return v.name;
    if (v.name === undefined) {
      const nhwc = this.g.op('Transpose', [v.nchw], { perm: [0, 2, 3, 1] }, this.g.fresh(`${id}_nhwc`));
      v.name = this.g.op('Flatten', [nhwc], { axis: 1 }, this.g.fresh(id));
    }
    return v.name;
  }

  private same(node: GraphNode, name: string): Lowered {
    return { kind: node.shape.length === 3 ? 'map' : 'vec', name };
  }

  private l2normalize(x: string, epsilon: number): string {
    const g = this.g;
    const norm = g.op('ReduceL2', [x], { axes: [1], keepdims: 1 });
    const floor = g.op('Max', [norm, g.addFloat(g.fresh('l2_epsilon'), [], [epsilon])]);
    return g.op('Div', [x, floor]);
  }

  private param(name: string): Float32Array {
    const w = this.weights[name];
    if (!w) throw new ExportError('EXPORT_UNSUPPORTED', `${this.graph.name}: the net has no weight "${name}"`);
    return w.values;
  }

  private missing(id: string): ExportError {
    return new ExportError('EXPORT_UNSUPPORTED', `${this.graph.name}: value "${id}" is read before it is computed`);
  }
}

/** Batch norm in evaluation as y = x*scale + shift, computed in double precision. */
export function bnAffine(node: BatchNormNode, weights: NamedWeights): { scale: Float64Array; shift: Float64Array } {
  const get = (suffix: string) => weights[`${node.id}.${suffix}`]?.values;
  const mean = get('running_mean');
  const variance = get('running_var');
  if (!mean || !variance) throw new ExportError('EXPORT_UNSUPPORTED', `batch norm "${node.id}" has no moving statistics`);
  const gamma = node.scale ? get('weight') : undefined;
  const beta = node.center ? get('bias') : undefined;
  const c = mean.length;
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    const s = (gamma ? gamma[i] : 1) / Math.sqrt(variance[i] + node.epsilon);
    scale[i] = s;
    shift[i] = (beta ? beta[i] : 0) - mean[i] * s;
  }
  return { scale, shift };
}

/** [kh, kw, i, o] -> [o, i, kh, kw]. */
export function hwioToOihw(hwio: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(hwio.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < ci; i++) {
        const src = ((y * kw + x) * ci + i) * co;
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = hwio[src + o];
      }
    }
  }
  return out;
}
