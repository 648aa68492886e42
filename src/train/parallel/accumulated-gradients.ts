// Gradient accumulation: the gradients of a batch as the sum over its micro-batches, run one
// after another, of each micro-batch's gradients weighted by its share of the samples. For a loss
// that is a mean over samples (plus terms that do not depend on the samples) this is the
// gradient of the whole batch, while only one micro-batch's activations are alive at a time.
// What differs from one big batch: batch norm normalizes each micro-batch with its own
// statistics and updates its moving averages once per micro-batch (as PyTorch does when
// accumulating).
//
// ctx.gather (../objectives/objective.ts) returns the rows of the whole batch. The micro-batches
// after the current one have not run yet, so when the objective gathers, a forward pass without
// gradients over every micro-batch first collects what each gather call receives (one pass per
// gather call of the loss; EPL makes one), batch-norm moving averages restored afterwards; the
// gradient passes then see the whole batch, their own rows live (with their gradient). Whether
// the objective gathers is learnt on the first step of a stage (one forward pass more there).
// A data-parallel worker (./replica-worker.ts) accumulates over its shard: what the collecting
// pass found for the shard goes once through the workers' gather, which adds the other shards'
// rows around it.
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../errors.js';
import type { Net } from '../nets/net.js';
import type { LossContext, Objective, PreparedStep, StepPosition } from '../objectives/objective.js';
import { shardBounds, shardOf } from './prepared-shard.js';
import { shardGradients, stepLoss, type StepGradients } from './shard-gradients.js';

/** Thrown by the collecting gather to stop a loss at the first call it cannot answer yet. */
class GatherPending extends Error {}

/** A shard of a batch split across data-parallel workers. */
export interface BatchShard {
  /** The workers' ctx.gather: the whole batch's rows, this shard's rows in place. */
  gather: LossContext['gather'];
  /** Where the shard starts in the batch. */
  start: number;
}

/** What one gather call receives: each micro-batch's rows, and the other shards' rows around them. */
type GatheredRows = {
  parts: tf.Tensor[];
  before?: tf.Tensor;
  after?: tf.Tensor;
};

/** The rows of a gather call for micro-batch `k`, whose own rows are `t`. */
function around(rows: GatheredRows, k: number, t: tf.Tensor): tf.Tensor {
  const all = [rows.before, ...rows.parts.slice(0, k), t, ...rows.parts.slice(k + 1), rows.after];
  return tf.concat(all.filter((r): r is tf.Tensor => r !== undefined));
}

export class AccumulatedGradients {
  /** Whether the objective gathered in the last step (undefined: not known yet). */
  private gathers: boolean | undefined;

  constructor(
    private readonly net: Net,
    private readonly objective: Objective,
    private readonly microBatches: number,
  ) {}

  /**
   * The gradients of `prepared` for `variables`; `training: false` runs batch norm on its moving
   * averages (tests); `shard`: `prepared` is a worker's shard of a bigger batch.
   */
  compute(variables: tf.Variable[], prepared: PreparedStep, position: StepPosition, o: { training?: boolean; shard?: BatchShard } = {}): StepGradients {
    const training = o.training ?? true;
    const bounds = shardBounds(prepared.size, this.microBatches);
    const shards = bounds.map(([start, end]) => shardOf(prepared, start, end));
    if (shards.length === 1) return shardGradients(this.net, this.objective, variables, prepared, position, { training, gather: o.shard?.gather });
    // rows[i]: what gather call i received.
    const rows = this.gathers === false ? [] : this.collectGathered(shards, position, training, o.shard);
    this.gathers = rows.length > 0;
    let sum: StepGradients | undefined;
    shards.forEach((shard, k) => {
      let call = 0;
      const gather = (t: tf.Tensor) => {
        const known = rows[call++];
        if (!known) throw new InvariantError(`${this.objective.name}: ctx.gather called in a step after steps without it; gradient accumulation needs it in every step`);
        return around(known, k, t);
      };
      const g = shardGradients(this.net, this.objective, variables, shard, position, { training, gather });
      sum = addWeighted(sum, g, shard.size / prepared.size);
    });
    tf.dispose(rows);
    return sum!;
  }

  /** The values of each gather call from every micro-batch, by forward passes without gradients. */
  private collectGathered(shards: PreparedStep[], position: StepPosition, training: boolean, outer: BatchShard | undefined): GatheredRows[] {
    const saved = this.net.getWeights();
    const rows: GatheredRows[] = [];
    for (;;) {
      const next: tf.Tensor[] = [];
      shards.forEach((shard, k) => {
        tf.tidy(() => {
          let call = 0;
          const gather = (t: tf.Tensor) => {
            const known = rows[call++];
            if (known) return around(known, k, t);
            next.push(tf.keep(t.clone()));
            throw new GatherPending();
          };
          try {
            stepLoss(this.net, this.objective, shard, position, training, gather);
          } catch (error) {
            if (!(error instanceof GatherPending)) throw error;
          }
        });
      });
      if (next.length === 0) break;
      rows.push({ parts: next, ...(outer ? otherShards(outer, next) : {}) });
    }
    // The passes above moved batch norm's moving averages; the gradient passes move them again.
    this.net.setWeights(saved);
    return rows;
  }
}

/** The rows of the other workers' shards before and after this one's (`parts`), through the workers' gather. */
function otherShards(outer: BatchShard, parts: tf.Tensor[]): Omit<GatheredRows, 'parts'> {
  return tf.tidy(() => {
    const own = tf.concat(parts);
    const whole = outer.gather(own);
    const end = outer.start + own.shape[0];
    return {
      ...(outer.start > 0 ? { before: tf.slice(whole, 0, outer.start) } : {}),
      ...(end < whole.shape[0] ? { after: tf.slice(whole, end, whole.shape[0] - end) } : {}),
    };
  });
}

/** sum + weight * g (sum's tensors disposed, g's consumed); the updates of the latest shard win. */
function addWeighted(sum: StepGradients | undefined, g: StepGradients, weight: number): StepGradients {
  const scaled = tf.tidy(() => ({
    grads: Object.fromEntries(Object.entries(g.grads).map(([name, t]) => [name, sum ? tf.add(sum.grads[name], tf.mul(t, weight)) : tf.mul(t, weight)])),
    values: (sum ? tf.add(sum.values, tf.mul(g.values, weight)) : tf.mul(g.values, weight)) as tf.Tensor1D,
  }));
  tf.dispose([...Object.values(g.grads), g.values]);
  if (sum) tf.dispose([...Object.values(sum.grads), sum.values, ...sum.updates.map((u) => u.value)]);
  return { grads: scaled.grads, values: scaled.values, terms: g.terms, updates: g.updates };
}
