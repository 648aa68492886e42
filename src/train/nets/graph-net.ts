// The tfjs interpreter of a NetGraph: raw ops (tf.conv2d, tf.depthwiseConv2d, tf.batchNorm, ...),
// no tf.layers (measured 3x slower). Every parameter is a tf.Variable found by its stable name.
// The same ops run on every backend: where a backend's gradient kernels are missing or slow,
// src/train/backends registers its own when it loads, and nothing here knows which backend runs.
import * as tf from '@tensorflow/tfjs';
import type { NamedWeights, Net } from './net.js';
import { batchNormTraining } from './batch-norm-training.js';
import { NetError } from './net-error.js';
import { GRAPH_INPUT, graphParams, type GraphNode, type NetGraph, type Padding, type ParamSpec } from './net-graph.js';
import { normalArray, streamSeed } from '../../seeded-random.js';

export interface GraphNetOptions {
  /** Seed of the initial weights (each parameter draws from its own stream, keyed by its name). */
  seed?: number;
  /**
   * Adopt (share, not copy) the variables of this net whose names and shapes match: e.g. a
   * classifier built on a backbone trains the backbone's own variables. Shared variables stay
   * owned by `shareFrom` and are not disposed by this net.
   */
  shareFrom?: GraphNet;
}

/** tfjs's explicit padding, NHWC: [[0, 0], [top, bottom], [left, right], [0, 0]] (not exported by name). */
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

type Kernel = (inputs: tf.Tensor[], training: boolean) => tf.Tensor;

interface CompiledNode {
  node: GraphNode;
  inputs: string[];
  run: Kernel;
}

export class GraphNet implements Net {
  readonly name: string;
  readonly inputShape: [number, number, number];
  readonly outputDim: number;
  readonly graph: NetGraph;
  private readonly specs: ParamSpec[];
  private readonly vars = new Map<string, tf.Variable>();
  private readonly owned = new Set<string>();
  private readonly compiled: CompiledNode[];
  /** For each value id, the index of the last node that reads it (evaluation frees values early). */
  private readonly lastUse = new Map<string, number>();

  constructor(graph: NetGraph, opts: GraphNetOptions = {}) {
    this.graph = structuredClone(graph);
    this.name = graph.name;
    this.inputShape = [...graph.inputShape];
    const out = graph.nodes.find((n) => n.id === graph.output);
    if (!out || out.shape.length !== 1) {
      throw new NetError('NET_GRAPH_INVALID', `${graph.name}: output "${graph.output}" must be a vector node of the graph`);
    }
    this.outputDim = out.shape[0];
    this.specs = graphParams(this.graph);
    const seed = opts.seed ?? 0;
    for (const spec of this.specs) {
      const shared = opts.shareFrom?.vars.get(spec.name);
      if (shared && shared.shape.join() === spec.shape.join() && shared.trainable === spec.trainable) {
        this.vars.set(spec.name, shared);
        continue;
      }
      const initial = tf.tensor(initialValues(spec, seed), spec.shape, 'float32');
      this.vars.set(spec.name, tf.variable(initial, spec.trainable));
      initial.dispose();
      this.owned.add(spec.name);
    }
    this.compiled = this.graph.nodes.map((node) => ({ node, inputs: node.inputs, run: this.compile(node) }));
    this.compiled.forEach((c, i) => c.inputs.forEach((id) => this.lastUse.set(id, i)));
    this.lastUse.set(graph.output, Infinity);
  }

  apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    const [, h, w, c] = x.shape;
    const [eh, ew, ec] = this.inputShape;
    if (x.rank !== 4 || h !== eh || w !== ew || c !== ec) {
      throw new NetError('NET_INPUT_SHAPE', `${this.name} expects input [batch, ${eh}, ${ew}, ${ec}] (NHWC), got [${x.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const env = new Map<string, tf.Tensor>([[GRAPH_INPUT, x]]);
      this.compiled.forEach((step, i) => {
        const y = step.run(step.inputs.map((id) => env.get(id) as tf.Tensor), training);
        env.set(step.node.id, y);
        // In evaluation nothing is kept for a backward pass: free each value after its last reader.
        if (!training) for (const id of step.inputs) if (this.lastUse.get(id) === i) this.release(env, id, x);
      });
      return env.get(this.graph.output) as tf.Tensor2D;
    });
  }

  trainableVariables(): tf.Variable[] {
    return this.specs.filter((s) => s.trainable).map((s) => this.vars.get(s.name) as tf.Variable);
  }

  /** Every variable (moving statistics included) by stable name. */
  variables(): ReadonlyMap<string, tf.Variable> {
    return this.vars;
  }

  paramSpecs(): readonly ParamSpec[] {
    return this.specs;
  }

  getWeights(): NamedWeights {
    const out: NamedWeights = {};
    for (const spec of this.specs) {
      // dataSync may hand back the backend's own buffer: copy it.
      out[spec.name] = { shape: [...spec.shape], values: (this.vars.get(spec.name) as tf.Variable).dataSync<'float32'>().slice() };
    }
    return out;
  }

  /**
   * Loads weights by name. Every parameter must be present with its shape and nothing else may
   * be, unless `partial` (then only the given ones are loaded, and unknown names still fail).
   */
  setWeights(weights: NamedWeights, opts: { partial?: boolean } = {}): void {
    const problems: string[] = [];
    for (const name of Object.keys(weights)) if (!this.vars.has(name)) problems.push(`unknown weight "${name}"`);
    for (const spec of this.specs) {
      const w = weights[spec.name];
      if (!w) {
        if (!opts.partial) problems.push(`missing weight "${spec.name}"`);
        continue;
      }
      const size = spec.shape.reduce((a, b) => a * b, 1);
      if (w.shape.join() !== spec.shape.join() || w.values.length !== size) {
        problems.push(`"${spec.name}" has shape [${w.shape}] (${w.values.length} values), expected [${spec.shape}]`);
      }
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 8).join('; ') + (problems.length > 8 ? `; and ${problems.length - 8} more` : '');
      throw new NetError('WEIGHTS_MISMATCH', `${this.name}: weights do not fit this net: ${shown}`);
    }
    for (const spec of this.specs) {
      const w = weights[spec.name];
      if (!w) continue;
      const t = tf.tensor(Float32Array.from(w.values), spec.shape, 'float32');
      (this.vars.get(spec.name) as tf.Variable).assign(t);
      t.dispose();
    }
  }

  dispose(): void {
    for (const name of this.owned) this.vars.get(name)?.dispose();
    this.owned.clear();
  }

  private release(env: Map<string, tf.Tensor>, id: string, x: tf.Tensor): void {
    const t = env.get(id);
    env.delete(id);
    if (!t || t === x) return;
    for (const other of env.values()) if (other === t) return; // an identity node aliases it
    t.dispose();
  }

  private v(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new NetError('NET_GRAPH_INVALID', `${this.name}: no parameter "${name}"`);
    return v;
  }

  private compile(node: GraphNode): Kernel {
    const id = node.id;
    switch (node.op) {
      case 'conv2d': {
        const w = this.v(`${id}.weight`) as unknown as tf.Tensor4D;
        const b = node.bias ? this.v(`${id}.bias`) : undefined;
        const pad = tfPadding(node.padding);
        const { strides, dilations, groups } = node;
        const conv = (xi: tf.Tensor4D, wi: tf.Tensor4D) => tf.conv2d(xi, wi, strides, pad, 'NHWC', dilations);
        return ([x]) => {
          let y: tf.Tensor4D;
          if (groups === 1) {
            y = conv(x as tf.Tensor4D, w);
          } else {
            const xs = tf.split(x, groups, 3) as tf.Tensor4D[];
            const ws = tf.split(w, groups, 3) as tf.Tensor4D[];
            y = tf.concat(xs.map((xi, g) => conv(xi, ws[g])), 3);
          }
          return b ? tf.add(y, b) : y;
        };
      }
      case 'depthwiseConv2d': {
        const w = this.v(`${id}.weight`) as unknown as tf.Tensor4D;
        const b = node.bias ? this.v(`${id}.bias`) : undefined;
        const pad = tfPadding(node.padding);
        const { strides, dilations } = node;
        return ([x]) => {
          const y = tf.depthwiseConv2d(x as tf.Tensor4D, w, strides, pad, 'NHWC', dilations);
          return b ? tf.add(y, b) : y;
        };
      }
      case 'batchNorm':
        return this.compileBatchNorm(node);
      case 'relu':
        return ([x]) => tf.relu(x);
      case 'prelu': {
        const alpha = this.v(`${id}.weight`);
        return ([x]) => tf.prelu(x, alpha);
      }
      case 'add':
        return ([a, b]) => tf.add(a, b);
      case 'globalAvgPool':
        return ([x]) => tf.mean(x, [1, 2]);
      case 'flatten': {
        const size = node.shape[0];
        return ([x]) => tf.reshape(x, [x.shape[0], size]);
      }
      case 'dense': {
        const w = this.v(`${id}.weight`) as unknown as tf.Tensor2D;
        const b = node.bias ? this.v(`${id}.bias`) : undefined;
        return ([x]) => {
          const y = tf.matMul(x as tf.Tensor2D, w);
          return b ? tf.add(y, b) : y;
        };
      }
      case 'dropout': {
        const rate = node.rate;
        return ([x], training) => (training && rate > 0 ? tf.dropout(x, rate) : x);
      }
      case 'l2normalize': {
        const eps = node.epsilon;
        return ([x]) => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), eps));
      }
      case 'softmax':
        return ([x]) => tf.softmax(x);
    }
  }

  private compileBatchNorm(node: Extract<GraphNode, { op: 'batchNorm' }>): Kernel {
    const id = node.id;
    const gamma = node.scale ? this.v(`${id}.weight`) : undefined;
    const beta = node.center ? this.v(`${id}.bias`) : undefined;
    const movingMean = this.v(`${id}.running_mean`);
    const movingVar = this.v(`${id}.running_var`);
    const { epsilon, momentum } = node;
    const updateMoving = (mean: tf.Tensor, variance: tf.Tensor, n: number) => {
      // assign() keeps the new values alive past tf.tidy and is not part of the loss, so this
      // works inside tf.variableGrads. The variance kept is the unbiased one, as PyTorch does.
      const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      movingMean.assign(tf.add(tf.mul(movingMean, momentum), tf.mul(mean, 1 - momentum)));
      movingVar.assign(tf.add(tf.mul(movingVar, momentum), tf.mul(unbiased, 1 - momentum)));
    };
    return ([x], training) => {
      if (!training) {
        // tfjs's batchNorm gradient needs both offset and scale tensors (it fails on undefined).
        return tf.batchNorm(x, movingMean, movingVar, beta ?? tf.zerosLike(movingMean), gamma ?? tf.onesLike(movingVar), epsilon);
      }
      const n = x.size / x.shape[x.rank - 1];
      // Batch statistics, with gradients through them too (./batch-norm-training.ts).
      return batchNormTraining(x, gamma, beta, epsilon, ({ mean, variance }) => updateMoving(mean, variance, n));
    };
  }
}

/** The padding argument tfjs takes for our Padding. */
function tfPadding(p: Padding): 'same' | 'valid' | ExplicitPadding {
  if (p === 'same' || p === 'valid') return p;
  const [t, b, l, r] = typeof p === 'number' ? [p, p, p, p] : p;
  if (t === 0 && b === 0 && l === 0 && r === 0) return 'valid';
  return [[0, 0], [t, b], [l, r], [0, 0]];
}

function initialValues(spec: ParamSpec, seed: number): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.init.kind === 'constant') return new Float32Array(size).fill(spec.init.value);
  // He et al. 2015: N(0, 2/fan_in) keeps activations' scale through ReLU/PReLU layers.
  return normalArray(size, Math.sqrt(2 / spec.init.fanIn), streamSeed(seed, spec.name));
}
