// The gradients of one prepared step, or of a shard of it, without applying them: the backbone
// over the views, the objective's loss, d loss / d variable. The loop's TrainStep applies them
// directly (one process, one batch), sums them over micro-batches (./accumulated-gradients.ts) or
// averages them over worker replicas (./replica-worker.ts).
import * as tf from '@tensorflow/tfjs';
import type { Net } from '../nets/net.js';
import type { LossContext, Objective, PreparedStep, StepLoss, StepPosition } from '../objectives/objective.js';

/** A shard's gradients, its loss as [loss, ...terms] (not yet read), and its buffer updates. */
export interface StepGradients {
  /** By variable name, for every variable that received a gradient. */
  grads: tf.NamedTensorMap;
  values: tf.Tensor1D;
  terms: string[];
  /** Buffer values to store after the optimizer's update (the caller owns the tensors). */
  updates: Array<{ variable: tf.Variable; value: tf.Tensor }>;
}

export interface ShardGradientOptions {
  /** Batch norm on batch statistics (true: training) or on its moving averages (false: tests). */
  training?: boolean;
  /** ctx.gather for this shard; the identity (the shard is the whole batch) when omitted. */
  gather?: LossContext['gather'];
}

/** The objective's loss of a prepared step (or shard) after the backbone; call inside a tidy. */
export function stepLoss(net: Net, objective: Objective, prepared: PreparedStep, position: StepPosition, training: boolean, gather: LossContext['gather']): StepLoss {
  const [h, w, c] = net.inputShape;
  const { size, views } = prepared;
  const x = tf.tensor4d(prepared.inputs, [views * size, h, w, c]);
  const labels = tf.tensor1d(prepared.labels, 'int32');
  const rows = Object.fromEntries(Object.entries(prepared.rows).map(([k, r]) => [k, tf.tensor2d(r.values, [size, r.width])]));
  const f = net.apply(x, training);
  const features = views === 1 ? [f] : (tf.split(f, views, 0) as tf.Tensor2D[]);
  return objective.loss({ features, labels, labelValues: prepared.labels, rows, shared: prepared.shared }, { ...position, gather });
}

export function shardGradients(
  net: Net,
  objective: Objective,
  variables: tf.Variable[],
  prepared: PreparedStep,
  position: StepPosition,
  o: ShardGradientOptions = {},
): StepGradients {
  const training = o.training ?? true;
  const gather = o.gather ?? ((t: tf.Tensor) => t);
  let out: StepLoss | undefined;
  const kept: tf.Tensor[] = [];
  const result = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      out = stepLoss(net, objective, prepared, position, training, gather);
      // The terms and the buffer values outlive variableGrads' scope (the values go to the caller).
      kept.push(...Object.values(out.terms).map((t) => tf.keep(t)));
      for (const u of out.updates) tf.keep(u.value);
      return out.loss;
    }, variables);
    return { grads, values: tf.stack([value, ...Object.values(out!.terms)]) as tf.Tensor1D, updates: out!.updates };
  });
  tf.dispose(kept);
  return { ...result, terms: Object.keys(out!.terms) };
}
