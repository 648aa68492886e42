// The one description of a network: a DAG of typed layer nodes in topological order, as plain
// JSON-serializable data. Two interpreters read it: GraphNet (tfjs forward/backward, training)
// and lowerToOnnx (ONNX export). Shapes are inferred here, once, in NHWC without the batch axis.
//
// Parameter names are stable and PyTorch-like (`<node id>.weight`, `.bias`, `.running_mean`,
// `.running_var`), so ids chosen after a PyTorch module tree (e.g. `layer1.0.conv1`) give the same
// names as its state_dict. Layouts are tfjs's: conv kernels HWIO, depthwise kernels [kh, kw, C, m],
// dense kernels [in, out].
import { NetError } from './net-error.js';

/**
 * Spatial padding of a convolution.
 * - 'same' / 'valid': TensorFlow semantics. 'same' pads (out-1)*s + k_eff - in in total, the
 *   smaller half on top/left, so stride 2 on an even input pads only bottom/right.
 * - a number p: p on every side (PyTorch `padding=p`).
 * - [top, bottom, left, right]: explicit.
 */
export type Padding = 'same' | 'valid' | number | [number, number, number, number];

/** Output shape of a value without the batch axis: [h, w, c] (feature map) or [d] (vector). */
export type ValueShape = [number, number, number] | [number];

interface NodeBase {
  /** Unique id: the node's output value name and the prefix of its parameters. */
  id: string;
  /** Ids of the values it reads; 'input' is the graph input. */
  inputs: string[];
  shape: ValueShape;
}

export interface Conv2dNode extends NodeBase {
  op: 'conv2d';
  filters: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: Padding;
  /** Grouped convolution: input and output channels split into `groups` independent parts. */
  groups: number;
  bias: boolean;
}

export interface DepthwiseConv2dNode extends NodeBase {
  op: 'depthwiseConv2d';
  /** Output channels per input channel; output channel c*multiplier+m reads input channel c. */
  multiplier: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: Padding;
  bias: boolean;
}

/** Batch norm over the last axis of a feature map (2d) or a vector (1d). */
export interface BatchNormNode extends NodeBase {
  op: 'batchNorm';
  epsilon: number;
  /**
   * Weight of the old value in the moving averages: moving = momentum*moving + (1-momentum)*batch
   * (Keras convention; PyTorch's momentum=0.1 is 0.9 here).
   */
  momentum: number;
  /** Learnable gamma; false fixes it at 1 (e.g. IResNet's final `features` BN). */
  scale: boolean;
  /** Learnable beta; false fixes it at 0. */
  center: boolean;
}

export interface PreluNode extends NodeBase {
  op: 'prelu';
  /** Initial slope for negative inputs (PyTorch default 0.25). */
  alphaInit: number;
}

export interface DenseNode extends NodeBase {
  op: 'dense';
  units: number;
  bias: boolean;
}

export interface DropoutNode extends NodeBase {
  op: 'dropout';
  /** Fraction dropped in training; identity in evaluation and export. */
  rate: number;
}

export interface L2NormalizeNode extends NodeBase {
  op: 'l2normalize';
  /** x / max(||x||, epsilon). */
  epsilon: number;
}

export interface SimpleNode extends NodeBase {
  op: 'relu' | 'add' | 'globalAvgPool' | 'flatten' | 'softmax';
}

export type GraphNode =
  | Conv2dNode
  | DepthwiseConv2dNode
  | BatchNormNode
  | PreluNode
  | DenseNode
  | DropoutNode
  | L2NormalizeNode
  | SimpleNode;

export interface NetGraph {
  name: string;
  /** [height, width, channels]. */
  inputShape: [number, number, number];
  nodes: GraphNode[];
  /** Id of the value the net returns (a vector). */
  output: string;
}

export const GRAPH_INPUT = 'input';

/** How a parameter starts before training. */
export type ParamInit =
  | { kind: 'heNormal'; fanIn: number }
  | { kind: 'constant'; value: number };

export interface ParamSpec {
  /** Stable name, e.g. 'layer1.0.conv1.weight'. */
  name: string;
  nodeId: string;
  role: 'weight' | 'bias' | 'gamma' | 'beta' | 'movingMean' | 'movingVariance' | 'alpha';
  shape: number[];
  trainable: boolean;
  init: ParamInit;
}

/** Every parameter of a graph, in node order; both interpreters name parameters through this. */
export function graphParams(graph: NetGraph): ParamSpec[] {
  const shapes = valueShapes(graph);
  const specs: ParamSpec[] = [];
  const push = (node: GraphNode, role: ParamSpec['role'], suffix: string, shape: number[], init: ParamInit, trainable = true) =>
    specs.push({ name: `${node.id}.${suffix}`, nodeId: node.id, role, shape, trainable, init });
  const zero: ParamInit = { kind: 'constant', value: 0 };
  const one: ParamInit = { kind: 'constant', value: 1 };
  for (const node of graph.nodes) {
    const inShape = shapes.get(node.inputs[0]);
    const inC = inShape ? inShape[inShape.length - 1] : 0;
    switch (node.op) {
      case 'conv2d': {
        const [kh, kw] = node.kernel;
        const perGroup = inC / node.groups;
        push(node, 'weight', 'weight', [kh, kw, perGroup, node.filters], { kind: 'heNormal', fanIn: kh * kw * perGroup });
        if (node.bias) push(node, 'bias', 'bias', [node.filters], zero);
        break;
      }
      case 'depthwiseConv2d': {
        const [kh, kw] = node.kernel;
        push(node, 'weight', 'weight', [kh, kw, inC, node.multiplier], { kind: 'heNormal', fanIn: kh * kw });
        if (node.bias) push(node, 'bias', 'bias', [inC * node.multiplier], zero);
        break;
      }
      case 'batchNorm':
        if (node.scale) push(node, 'gamma', 'weight', [inC], one);
        if (node.center) push(node, 'beta', 'bias', [inC], zero);
        push(node, 'movingMean', 'running_mean', [inC], zero, false);
        push(node, 'movingVariance', 'running_var', [inC], one, false);
        break;
      case 'prelu':
        push(node, 'alpha', 'weight', [inC], { kind: 'constant', value: node.alphaInit });
        break;
      case 'dense':
        push(node, 'weight', 'weight', [inC, node.units], { kind: 'heNormal', fanIn: inC });
        if (node.bias) push(node, 'bias', 'bias', [node.units], zero);
        break;
      default:
        break;
    }
  }
  return specs;
}

/** Shapes of every value, the graph input included. */
export function valueShapes(graph: NetGraph): Map<string, ValueShape> {
  const shapes = new Map<string, ValueShape>([[GRAPH_INPUT, graph.inputShape]]);
  for (const node of graph.nodes) shapes.set(node.id, node.shape);
  return shapes;
}

/** Number of elements of all parameters; `trainableOnly` counts what PyTorch's numel over parameters() counts. */
export function countParams(graph: NetGraph, trainableOnly = true): number {
  return graphParams(graph)
    .filter((p) => p.trainable || !trainableOnly)
    .reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

/** Padding amounts [top, bottom, left, right] exactly as tfjs computes them (conv_util.computeConv2DInfo). */
export function resolvePadding(
  padding: Padding,
  input: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (Array.isArray(padding)) return [...padding];
  const pads: number[] = [];
  for (let i = 0; i < 2; i++) {
    const effK = (kernel[i] - 1) * dilations[i] + 1;
    const out = Math.ceil(input[i] / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + effK - input[i]);
    const before = Math.floor(total / 2);
    pads.push(before, total - before);
  }
  return pads as [number, number, number, number];
}

/** Output spatial size of a convolution. */
export function convOutputSize(
  padding: Padding,
  input: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
): [number, number] {
  const [t, b, l, r] = resolvePadding(padding, input, kernel, strides, dilations);
  const out = (i: number, before: number, after: number) => {
    const effK = (kernel[i] - 1) * dilations[i] + 1;
    return Math.floor((input[i] + before + after - effK) / strides[i]) + 1;
  };
  return [out(0, t, b), out(1, l, r)];
}

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

export interface ConvOptions {
  filters: number;
  kernel: Pair;
  strides?: Pair;
  dilations?: Pair;
  padding?: Padding;
  groups?: number;
  bias?: boolean;
}

export interface DepthwiseOptions {
  kernel: Pair;
  multiplier?: number;
  strides?: Pair;
  dilations?: Pair;
  padding?: Padding;
  bias?: boolean;
}

export interface BatchNormOptions {
  epsilon?: number;
  momentum?: number;
  scale?: boolean;
  center?: boolean;
}

/** Defaults follow PyTorch's BatchNorm (eps 1e-5, momentum 0.1 = 0.9 in our convention). */
export const BN_DEFAULTS = { epsilon: 1e-5, momentum: 0.9 } as const;

/**
 * Builds a NetGraph step by step, checking and inferring shapes. Each method takes the ids of
 * its inputs and returns the id of its output; `id` defaults to `<op>_<n>`.
 */
export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly shapes = new Map<string, ValueShape>();
  private counter = 0;
  readonly input = GRAPH_INPUT;

  constructor(
    private readonly name: string,
    private readonly inputShape: [number, number, number],
  ) {
    if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new NetError('NET_GRAPH_INVALID', `${name}: input shape must be [height, width, channels] of positive integers, got [${inputShape.join(', ')}]`);
    }
    this.shapes.set(GRAPH_INPUT, inputShape);
  }

  /** Starts from an existing graph (e.g. to add a head to a backbone). */
  static from(graph: NetGraph, name = graph.name): GraphBuilder {
    const b = new GraphBuilder(name, graph.inputShape);
    for (const node of graph.nodes) b.push(structuredClone(node));
    return b;
  }

  shapeOf(id: string): ValueShape {
    const s = this.shapes.get(id);
    if (!s) throw new NetError('NET_GRAPH_INVALID', `${this.name}: no value named "${id}"`);
    return s;
  }

  channels(id: string): number {
    const s = this.shapeOf(id);
    return s[s.length - 1];
  }

  conv2d(x: string, o: ConvOptions, id?: string): string {
    const [h, w, c] = this.map(x, 'conv2d');
    const kernel = pair(o.kernel);
    const strides = pair(o.strides ?? 1);
    const dilations = pair(o.dilations ?? 1);
    const padding = o.padding ?? 'same';
    const groups = o.groups ?? 1;
    this.checkConv('conv2d', strides, dilations);
    if (c % groups !== 0 || o.filters % groups !== 0) {
      throw new NetError('NET_GRAPH_INVALID', `${this.name}: conv2d groups=${groups} must divide input channels ${c} and filters ${o.filters}`);
    }
    const [oh, ow] = this.spatial('conv2d', padding, [h, w], kernel, strides, dilations);
    return this.push({
      op: 'conv2d', id: id ?? this.auto('conv'), inputs: [x], shape: [oh, ow, o.filters],
      filters: o.filters, kernel, strides, dilations, padding, groups, bias: o.bias ?? false,
    });
  }

  depthwiseConv2d(x: string, o: DepthwiseOptions, id?: string): string {
    const [h, w, c] = this.map(x, 'depthwiseConv2d');
    const kernel = pair(o.kernel);
    const strides = pair(o.strides ?? 1);
    const dilations = pair(o.dilations ?? 1);
    const padding = o.padding ?? 'same';
    const multiplier = o.multiplier ?? 1;
    this.checkConv('depthwiseConv2d', strides, dilations);
    const [oh, ow] = this.spatial('depthwiseConv2d', padding, [h, w], kernel, strides, dilations);
    return this.push({
      op: 'depthwiseConv2d', id: id ?? this.auto('dwconv'), inputs: [x], shape: [oh, ow, c * multiplier],
      multiplier, kernel, strides, dilations, padding, bias: o.bias ?? false,
    });
  }

  batchNorm(x: string, o: BatchNormOptions = {}, id?: string): string {
    return this.push({
      op: 'batchNorm', id: id ?? this.auto('bn'), inputs: [x], shape: this.shapeOf(x),
      epsilon: o.epsilon ?? BN_DEFAULTS.epsilon, momentum: o.momentum ?? BN_DEFAULTS.momentum,
      scale: o.scale ?? true, center: o.center ?? true,
    });
  }

  relu(x: string, id?: string): string {
    return this.push({ op: 'relu', id: id ?? this.auto('relu'), inputs: [x], shape: this.shapeOf(x) });
  }

  prelu(x: string, id?: string, alphaInit = 0.25): string {
    return this.push({ op: 'prelu', id: id ?? this.auto('prelu'), inputs: [x], shape: this.shapeOf(x), alphaInit });
  }

  add(a: string, b: string, id?: string): string {
    const sa = this.shapeOf(a);
    const sb = this.shapeOf(b);
    if (sa.join() !== sb.join()) {
      throw new NetError('NET_GRAPH_INVALID', `${this.name}: add of "${a}" [${sa}] and "${b}" [${sb}]: shapes differ`);
    }
    return this.push({ op: 'add', id: id ?? this.auto('add'), inputs: [a, b], shape: sa });
  }

  globalAvgPool(x: string, id?: string): string {
    const [, , c] = this.map(x, 'globalAvgPool');
    return this.push({ op: 'globalAvgPool', id: id ?? this.auto('gap'), inputs: [x], shape: [c] });
  }

  /** Flattens a feature map in NHWC order (h, then w, then c). */
  flatten(x: string, id?: string): string {
    const s = this.shapeOf(x);
    return this.push({ op: 'flatten', id: id ?? this.auto('flatten'), inputs: [x], shape: [s.reduce((a, b) => a * b, 1)] });
  }

  dense(x: string, units: number, o: { bias?: boolean } = {}, id?: string): string {
    this.vector(x, 'dense');
    return this.push({ op: 'dense', id: id ?? this.auto('dense'), inputs: [x], shape: [units], units, bias: o.bias ?? true });
  }

  dropout(x: string, rate: number, id?: string): string {
    if (!(rate >= 0 && rate < 1)) throw new NetError('NET_GRAPH_INVALID', `${this.name}: dropout rate must be in [0, 1), got ${rate}`);
    return this.push({ op: 'dropout', id: id ?? this.auto('dropout'), inputs: [x], shape: this.shapeOf(x), rate });
  }

  l2normalize(x: string, epsilon = 1e-12, id?: string): string {
    this.vector(x, 'l2normalize');
    return this.push({ op: 'l2normalize', id: id ?? this.auto('l2norm'), inputs: [x], shape: this.shapeOf(x), epsilon });
  }

  softmax(x: string, id?: string): string {
    this.vector(x, 'softmax');
    return this.push({ op: 'softmax', id: id ?? this.auto('softmax'), inputs: [x], shape: this.shapeOf(x) });
  }

  build(output: string): NetGraph {
    this.vector(output, 'output');
    return { name: this.name, inputShape: [...this.inputShape], nodes: this.nodes.map((n) => structuredClone(n)), output };
  }

  private push(node: GraphNode): string {
    if (this.shapes.has(node.id)) throw new NetError('NET_GRAPH_INVALID', `${this.name}: duplicate node id "${node.id}"`);
    for (const i of node.inputs) this.shapeOf(i);
    this.nodes.push(node);
    this.shapes.set(node.id, node.shape);
    return node.id;
  }

  private auto(prefix: string): string {
    let id: string;
    do id = `${prefix}_${this.counter++}`;
    while (this.shapes.has(id));
    return id;
  }

  private map(x: string, op: string): [number, number, number] {
    const s = this.shapeOf(x);
    if (s.length !== 3) throw new NetError('NET_GRAPH_INVALID', `${this.name}: ${op} needs a feature map [h, w, c]; "${x}" is [${s}]`);
    return s;
  }

  private vector(x: string, op: string): void {
    const s = this.shapeOf(x);
    if (s.length !== 1) throw new NetError('NET_GRAPH_INVALID', `${this.name}: ${op} needs a vector; "${x}" is [${s}] (add globalAvgPool or flatten)`);
  }

  private checkConv(op: string, strides: [number, number], dilations: [number, number]): void {
    // tfjs refuses convolutions that are both strided and dilated.
    if ((strides[0] > 1 || strides[1] > 1) && (dilations[0] > 1 || dilations[1] > 1)) {
      throw new NetError('NET_GRAPH_INVALID', `${this.name}: ${op} cannot have both strides and dilations above 1`);
    }
  }

  private spatial(
    op: string,
    padding: Padding,
    input: [number, number],
    kernel: [number, number],
    strides: [number, number],
    dilations: [number, number],
  ): [number, number] {
    const [oh, ow] = convOutputSize(padding, input, kernel, strides, dilations);
    if (oh < 1 || ow < 1) {
      throw new NetError('NET_GRAPH_INVALID', `${this.name}: ${op} with kernel ${kernel} on a ${input[0]}x${input[1]} map leaves nothing (input too small)`);
    }
    return [oh, ow];
  }
}
