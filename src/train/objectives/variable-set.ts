// The named tensors an objective owns (head parameters and buffers), with the checkpoint
// round-trip every objective needs: getWeights copies them out by name, setWeights loads them
// back and refuses missing, unknown or misshaped names.
import * as tf from '@tensorflow/tfjs';
import type { NamedWeights } from '../nets/net.js';
import { NetError } from '../nets/net-error.js';

export class VariableSet {
  private readonly vars = new Map<string, tf.Variable>();

  constructor(private readonly owner: string) {}

  /** Adds a variable initialized with `values` (copied); trainable ones get gradients. */
  add(name: string, shape: number[], values: Float32Array, trainable: boolean): tf.Variable {
    if (this.vars.has(name)) throw new NetError('NET_GRAPH_INVALID', `${this.owner}: "${name}" defined twice`);
    const initial = tf.tensor(values, shape, 'float32');
    const v = tf.variable(initial, trainable);
    initial.dispose();
    this.vars.set(name, v);
    return v;
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new NetError('NET_GRAPH_INVALID', `${this.owner}: no variable "${name}"`);
    return v;
  }

  /** The trainable variables among `names` (all trainable ones when omitted), in insertion order. */
  trainable(names?: readonly string[]): tf.Variable[] {
    const all = [...this.vars.entries()].filter(([, v]) => v.trainable);
    return (names ? all.filter(([n]) => names.includes(n)) : all).map(([, v]) => v);
  }

  getWeights(): NamedWeights {
    const out: NamedWeights = {};
    for (const [name, v] of this.vars) out[name] = { shape: [...v.shape], values: v.dataSync<'float32'>().slice() };
    return out;
  }

  setWeights(weights: NamedWeights): void {
    const problems: string[] = [];
    for (const name of Object.keys(weights)) if (!this.vars.has(name)) problems.push(`unknown weight "${name}"`);
    for (const [name, v] of this.vars) {
      const w = weights[name];
      if (!w) problems.push(`missing weight "${name}"`);
      else if (w.shape.join() !== v.shape.join() || w.values.length !== v.size) {
        problems.push(`"${name}" has shape [${w.shape}], expected [${v.shape}]`);
      }
    }
    if (problems.length > 0) throw new NetError('WEIGHTS_MISMATCH', `${this.owner}: weights do not fit: ${problems.join('; ')}`);
    for (const [name, v] of this.vars) {
      const t = tf.tensor(Float32Array.from(weights[name].values), v.shape, 'float32');
      v.assign(t);
      t.dispose();
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
