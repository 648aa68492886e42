// A small typed wrapper over onnx-proto for writing ONNX models (opset 17 by default).
// Every exporter and every test that needs an ONNX graph builds it through this one place.
import pkg from 'onnx-proto';
import { InvariantError } from '../errors.js';

const { onnx } = pkg;

export const DEFAULT_OPSET = 17;
/** IR version 8 is what onnx-proto's schema describes; onnxruntime-node 1.30 accepts it. */
const IR_VERSION = 8;

export type AttributeValue = number | string | number[] | Float32Array;

/** Dimension: a fixed size, or a symbolic name (e.g. 'batch') for a dynamic one. */
export type Dim = number | string;

export interface OnnxNodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Integers stay integers: pass `{ value, float: true }` through `floatAttr` for FLOAT attributes. */
  attributes?: Record<string, AttributeValue | FloatAttr>;
}

/** Marks a number attribute as FLOAT (ONNX distinguishes INT from FLOAT attributes). */
export interface FloatAttr {
  float: number;
}

export function floatAttr(value: number): FloatAttr {
  return { float: value };
}

export class OnnxGraphBuilder {
  private readonly nodes: pkg.onnx.INodeProto[] = [];
  private readonly initializers: pkg.onnx.ITensorProto[] = [];
  private readonly inputs: pkg.onnx.IValueInfoProto[] = [];
  private readonly outputs: pkg.onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(private readonly graphName: string) {}

  /** A fresh value name with the given prefix, unique in this graph. */
  fresh(prefix: string): string {
    let name: string;
    do {
      name = `${prefix}_${this.counter++}`;
    } while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  addInput(name: string, dims: Dim[]): string {
    this.names.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  addOutput(name: string, dims: Dim[]): string {
    this.outputs.push(valueInfo(name, dims));
    return name;
  }

  /** A float32 constant tensor. */
  addFloat(name: string, dims: number[], data: Float32Array | number[]): string {
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    if (values.length !== dims.reduce((a, b) => a * b, 1)) {
      throw new InvariantError(`initializer ${name}: ${values.length} values for dims [${dims.join(', ')}]`);
    }
    this.names.add(name);
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
    });
    return name;
  }

  /** An int64 constant tensor (shapes, axes). */
  addInt64(name: string, dims: number[], data: number[]): string {
    const raw = new BigInt64Array(data.map((v) => BigInt(v)));
    this.names.add(name);
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(raw.buffer),
    });
    return name;
  }

  /** Adds a node; returns its first output name. */
  addNode(spec: OnnxNodeSpec): string {
    for (const out of spec.outputs) this.names.add(out);
    this.nodes.push({
      opType: spec.op,
      input: spec.inputs,
      output: spec.outputs,
      name: spec.name ?? this.fresh(spec.op.toLowerCase()),
      attribute: Object.entries(spec.attributes ?? {}).map(([k, v]) => attribute(k, v)),
    });
    return spec.outputs[0];
  }

  /** Shorthand: one node with a fresh single output. */
  op(op: string, inputs: string[], attributes?: OnnxNodeSpec['attributes'], outputName?: string): string {
    const out = outputName ?? this.fresh(op.toLowerCase());
    return this.addNode({ op, inputs, outputs: [out], attributes });
  }

  /**
   * Renames a value produced by a node (e.g. the last one, to the graph's output name) in every
   * node that writes or reads it. Graph inputs and initializers are not renamed.
   */
  renameValue(from: string, to: string): string {
    if (from === to) return to;
    if (this.names.has(to)) throw new InvariantError(`value name "${to}" is already used in graph ${this.graphName}`);
    if (!this.nodes.some((node) => node.output?.includes(from))) {
      throw new InvariantError(`no node of graph ${this.graphName} produces "${from}"`);
    }
    for (const node of this.nodes) {
      node.output = (node.output ?? []).map((n) => (n === from ? to : n));
      node.input = (node.input ?? []).map((n) => (n === from ? to : n));
    }
    this.names.add(to);
    return to;
  }

  /** Serializes to ONNX protobuf bytes. */
  toBytes(opts: { opset?: number; producerVersion?: string; docString?: string } = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'protoserve',
      producerVersion: opts.producerVersion ?? '0',
      docString: opts.docString ?? '',
      opsetImport: [{ domain: '', version: opts.opset ?? DEFAULT_OPSET }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dims: Dim[]): pkg.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttributeValue | FloatAttr): pkg.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new InvariantError(`attribute ${name}: ${v} is not an integer; use floatAttr()`);
    return { name, type: T.INT, i: v };
  }
  if (v instanceof Float32Array) return { name, type: T.FLOATS, floats: Array.from(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.float };
}
