// One stage's optimizer: SGD with momentum or Adam (tfjs's update rules, which equal PyTorch's),
// with PyTorch's coupled weight decay (g <- g + wd * w, before the update), optional gradient-norm
// clipping, and the learning rate of the stage's schedule. Its slots round-trip through
// checkpoints keyed by variable position (tfjs names slots after generated variable ids).
import * as tf from '@tensorflow/tfjs';
import type { Net, NamedWeights } from './nets/net.js';
import type { Objective, StageSpec } from './objectives/objective.js';

export interface OptimizerConfig {
  optimizer: 'sgd' | 'adam';
  learningRate: number;
  /** SGD momentum (ignored by adam). */
  momentum: number;
  /** L2 weight decay added to every gradient, as torch.optim's weight_decay (0: none). */
  weightDecay: number;
  /**
   * Clip the gradient norm of each parameter group (backbone, head) separately to this value,
   * as the BCE3S reference does when it clips (torch.nn.utils.clip_grad_norm_); 0: off.
   */
  clipGradNorm: number;
}

/** Parameter groups: clipping measures each group's norm on its own. */
export interface ParameterGroups {
  backbone: tf.Variable[];
  head: tf.Variable[];
}

export class StageOptimizer {
  private readonly optimizer: tf.Optimizer;
  readonly variables: tf.Variable[];

  constructor(private readonly config: OptimizerConfig, private readonly groups: ParameterGroups) {
    this.variables = [...groups.backbone, ...groups.head];
    this.optimizer = config.optimizer === 'adam' ? tf.train.adam(config.learningRate) : tf.train.momentum(config.learningRate, config.momentum);
  }

  setLearningRate(lr: number): void {
    if (this.config.optimizer === 'sgd') (this.optimizer as tf.MomentumOptimizer).setLearningRate(lr);
    // tfjs's Adam reads its (protected) learningRate field at every update.
    else (this.optimizer as unknown as { learningRate: number }).learningRate = lr;
  }

  /** Applies one update from `grads` (by variable name); disposes nothing it was given. */
  apply(grads: tf.NamedTensorMap): void {
    tf.tidy(() => {
      const { weightDecay, clipGradNorm } = this.config;
      const out: tf.NamedTensorMap = {};
      for (const group of [this.groups.backbone, this.groups.head]) {
        const decayed = group.filter((v) => grads[v.name]).map((v) => [v.name, weightDecay > 0 ? tf.add(grads[v.name], tf.mul(v, weightDecay)) : grads[v.name]] as const);
        const scale = clipGradNorm > 0 ? clipScale(decayed.map(([, g]) => g), clipGradNorm) : undefined;
        for (const [name, g] of decayed) out[name] = scale ? tf.mul(g, scale) : g;
      }
      this.optimizer.applyGradients(out);
    });
  }

  /** The slots, keyed `<position of the variable>/<slot>`. */
  async getWeights(): Promise<NamedWeights> {
    const position = new Map(this.variables.map((v, i) => [v.name, String(i)]));
    const out: NamedWeights = {};
    for (const { name, tensor } of await this.optimizer.getWeights()) {
      const slash = name.lastIndexOf('/');
      const key = slash > 0 ? `${position.get(name.slice(0, slash)) ?? name.slice(0, slash)}${name.slice(slash)}` : name;
      out[key] = { shape: tensor.shape, values: Float32Array.from(await tensor.data()) };
    }
    return out;
  }

  /** Restores slots written by getWeights (tfjs matches them to variables by position). */
  async setWeights(weights: NamedWeights): Promise<void> {
    const named = Object.entries(weights).map(([name, { shape, values }]) => ({ name, tensor: tf.tensor(values, shape) }));
    await this.optimizer.setWeights(named);
    for (const { tensor } of named) tensor.dispose();
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** The optimizer of a stage: the objective's variables, and the backbone's unless the stage freezes it. */
export function stageOptimizer(config: OptimizerConfig, spec: StageSpec, net: Net, objective: Objective): StageOptimizer {
  return new StageOptimizer(config, { backbone: spec.trainBackbone ? net.trainableVariables() : [], head: objective.trainableVariables(spec.name) });
}

/** min(1, max / (||g|| + 1e-6)) over the group's gradients, as clip_grad_norm_ computes it. */
function clipScale(grads: readonly tf.Tensor[], max: number): tf.Scalar {
  const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
  return tf.minimum(tf.div(max, tf.add(norm, 1e-6)), 1) as tf.Scalar;
}
