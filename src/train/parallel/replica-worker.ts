// One data-parallel replica (./replica-pool.ts): its own backend instance, the run's backbone and
// objective built from the configuration, and for every step the gradients of its shard, written
// into its slot of shared memory. ctx.gather exchanges rows with the other replicas through
// shared memory and a barrier, synchronously, inside the loss.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../errors.js';
import { TrainingRunError } from './training-run-error.js';
import { resolveTrainingBackend } from '../backends/index.js';
import { buildModels } from '../build-net.js';
import { CONTROL_ABORTED, CONTROL_ARRIVED, CONTROL_GENERATION, type ReplicaInit, type ReplicaMessage, type ReplicaStep } from './replica-protocol.js';
import { shardGradients } from './shard-gradients.js';

const init = workerData as ReplicaInit;
const control = new Int32Array(init.control);
const gatherRows = new Float32Array(init.gather);
const slot = new Float32Array(init.gradients, init.index * init.slotFloats * 4, init.slotFloats);

/** Waits until `parties` workers arrived; throws when the pool signals that a worker failed. */
function barrier(parties: number): void {
  const generation = Atomics.load(control, CONTROL_GENERATION);
  if (Atomics.add(control, CONTROL_ARRIVED, 1) + 1 === parties) {
    Atomics.store(control, CONTROL_ARRIVED, 0);
    Atomics.add(control, CONTROL_GENERATION, 1);
    Atomics.notify(control, CONTROL_GENERATION);
    return;
  }
  while (Atomics.load(control, CONTROL_GENERATION) === generation) {
    if (Atomics.load(control, CONTROL_ABORTED)) throw new TrainingRunError('TRAINING_WORKER_FAILED', 'another training worker failed');
    Atomics.wait(control, CONTROL_GENERATION, generation, 100);
  }
}

/** The rows of `t` from every shard, in batch order; this shard's rows stay `t` (with their gradient). */
function gatherFrom(step: ReplicaStep) {
  return (t: tf.Tensor): tf.Tensor => {
    const rows = t.shape[0];
    if (rows !== step.shard.size) throw new InvariantError(`ctx.gather takes one row per sample of the shard (${step.shard.size}), got ${rows}`);
    const width = t.size / rows;
    if (step.total * width > gatherRows.length) throw new InvariantError(`ctx.gather: ${step.total} rows of ${width} values exceed the shared buffer (${gatherRows.length} values)`);
    gatherRows.set(t.dataSync(), step.start * width);
    barrier(step.active);
    const all = gatherRows.slice(0, step.total * width);
    barrier(step.active); // nobody writes the next gather's rows before everyone read these
    const inner = t.shape.slice(1);
    const end = step.start + rows;
    const parts = [
      ...(step.start > 0 ? [tf.tensor(all.subarray(0, step.start * width), [step.start, ...inner])] : []),
      t,
      ...(end < step.total ? [tf.tensor(all.subarray(end * width), [step.total - end, ...inner])] : []),
    ];
    return parts.length === 1 ? t : tf.concat(parts);
  };
}

const backend = await resolveTrainingBackend({ backend: init.backend, log: () => {} });
const { backbone, objective } = buildModels(init.config, init.shape);
const port = parentPort!;
const send = (m: ReplicaMessage) => port.postMessage(m);

port.on('message', (step: ReplicaStep) => {
  backbone.setWeights(step.weights.net);
  objective.setWeights(step.weights.objective);
  const variables = [...(step.trainBackbone ? backbone.trainableVariables() : []), ...objective.trainableVariables(step.stage)];
  const g = shardGradients(backbone, objective, variables, step.shard, step.position, { training: step.training, gather: gatherFrom(step) });
  const share = step.shard.size / step.total;
  let offset = 0;
  const hasGradient = variables.map((v) => {
    const grad = g.grads[v.name];
    if (grad) {
      const data = grad.dataSync();
      for (let i = 0; i < data.length; i++) slot[offset + i] = data[i] * share;
    } else {
      slot.fill(0, offset, offset + v.size);
    }
    offset += v.size;
    return grad !== undefined;
  });
  const values = Array.from(g.values.dataSync(), (v) => v * share);
  for (const u of g.updates) u.variable.assign(u.value);
  tf.dispose([...Object.values(g.grads), g.values, ...g.updates.map((u) => u.value)]);
  send({ kind: 'done', values, terms: g.terms, hasGradient, weights: step.returnWeights ? { net: backbone.getWeights(), objective: objective.getWeights() } : undefined });
});
send({ kind: 'ready', description: backend.description });
