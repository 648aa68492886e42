// One data-parallel replica (./replica-pool.ts): its own backend instance, the run's backbone and
// objective built from the configuration, and its own optimizer for the stage. Every step it
// writes its shard's gradients (summed over --accumulate micro-batches of the shard,
// ./accumulated-gradients.ts) into its slot of shared memory, waits for the other workers, sums
// every slot in worker order and updates itself: the same numbers in the same order on every
// worker, so the replicas stay identical without exchanging weights. ctx.gather exchanges rows
// with the other replicas through shared memory and a barrier, synchronously, inside the loss.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../errors.js';
import { TrainingRunError } from './training-run-error.js';
import { resolveTrainingBackend } from '../backends/index.js';
import { buildModels } from '../build-net.js';
import { stageOptimizer, type StageOptimizer } from '../optimizer.js';
import { AccumulatedGradients } from './accumulated-gradients.js';
import {
  CONTROL_ABORTED,
  CONTROL_COPY_OBJECTIVE,
  CONTROL_GATHER,
  CONTROL_STEP,
  type ReplicaInit,
  type ReplicaLoad,
  type ReplicaMessage,
  type ReplicaRequest,
  type ReplicaStep,
} from './replica-protocol.js';

const init = workerData as ReplicaInit;
const { parameters, variables: variableRows, objectiveFloats } = init.sizes;
const control = new Int32Array(init.control);
const gatherRows = new Float32Array(init.gather);
const gradientSlots = new Float32Array(init.gradients);
const received = new Int32Array(init.received);
const objectiveCopy = new Float32Array(init.objective);
const first = init.index === 0;

/**
 * Waits until `parties` workers arrived at the barrier whose [arrived, generation] start at `at`;
 * throws when the pool signals that a worker failed.
 */
function barrier(at: number, parties: number): void {
  const generation = Atomics.load(control, at + 1);
  if (Atomics.add(control, at, 1) + 1 === parties) {
    Atomics.store(control, at, 0);
    Atomics.add(control, at + 1, 1);
    Atomics.notify(control, at + 1);
    return;
  }
  while (Atomics.load(control, at + 1) === generation) {
    if (Atomics.load(control, CONTROL_ABORTED)) throw new TrainingRunError('TRAINING_WORKER_FAILED', 'another training worker failed');
    Atomics.wait(control, at + 1, generation, 100);
  }
}

/** The rows of `t` from every shard, in batch order; this shard's rows stay `t` (with their gradient). */
function gatherFrom(step: ReplicaStep, size: number) {
  return (t: tf.Tensor): tf.Tensor => {
    const rows = t.shape[0];
    if (rows !== size) throw new InvariantError(`ctx.gather takes one row per sample of the shard (${size}), got ${rows}`);
    const width = t.size / rows;
    if (step.total * width > gatherRows.length) throw new InvariantError(`ctx.gather: ${step.total} rows of ${width} values exceed the shared buffer (${gatherRows.length} values)`);
    gatherRows.set(t.dataSync(), step.start * width);
    barrier(CONTROL_GATHER, step.active);
    const all = gatherRows.slice(0, step.total * width);
    barrier(CONTROL_GATHER, step.active); // nobody writes the next gather's rows before everyone read these
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
let current: { stage: string; optimizer: StageOptimizer; gradients: AccumulatedGradients } | undefined;

async function load(m: ReplicaLoad): Promise<ReplicaMessage> {
  backbone.setWeights(m.net);
  objective.setWeights(m.objective);
  if (m.optimizer) {
    const { stage, slots } = m.optimizer;
    const config = init.config.stages.find((s) => s.name === stage);
    const spec = objective.stages.find((s) => s.name === stage);
    if (!config || !spec) throw new InvariantError(`replica: no stage "${stage}" in the run`);
    current?.optimizer.dispose();
    current = { stage, optimizer: stageOptimizer(config, spec, backbone, objective), gradients: new AccumulatedGradients(backbone, objective, init.config.accumulate ?? 1) };
    if (Object.keys(slots).length > 0) await current.optimizer.setWeights(slots);
  }
  return { kind: 'loaded' };
}

/** Writes the shard's gradients times `share` into this worker's slot, and which variables got one. */
function writeGradients(variables: tf.Variable[], grads: tf.NamedTensorMap, share: number): void {
  const slot = gradientSlots.subarray(init.index * parameters, (init.index + 1) * parameters);
  let offset = 0;
  variables.forEach((v, i) => {
    const grad = grads[v.name];
    if (grad) {
      const data = grad.dataSync();
      for (let j = 0; j < data.length; j++) slot[offset + j] = data[j] * share;
    } else {
      slot.fill(0, offset, offset + v.size);
    }
    received[init.index * variableRows + i] = grad ? 1 : 0;
    offset += v.size;
  });
}

/** The sum of the first `active` workers' slots, in worker order, for every variable any of them got a gradient for. */
function summedGradients(variables: tf.Variable[], active: number): tf.NamedTensorMap {
  const grads: tf.NamedTensorMap = {};
  let offset = 0;
  variables.forEach((v, i) => {
    let any = false;
    for (let k = 0; k < active; k++) any ||= received[k * variableRows + i] === 1;
    if (any) {
      const sum = new Float32Array(v.size);
      for (let k = 0; k < active; k++) {
        const slot = gradientSlots.subarray(k * parameters + offset, k * parameters + offset + v.size);
        for (let j = 0; j < sum.length; j++) sum[j] += slot[j];
      }
      grads[v.name] = tf.tensor(sum, v.shape);
    }
    offset += v.size;
  });
  return grads;
}

/** The first worker's objective weights, after its update, to shared memory (getWeights' order). */
function writeObjective(): void {
  let offset = 0;
  for (const { values } of Object.values(objective.getWeights())) {
    if (offset + values.length > objectiveFloats) throw new InvariantError(`replica: the objective's weights exceed the ${objectiveFloats} floats the pool was sized for`);
    objectiveCopy.set(values, offset);
    offset += values.length;
  }
}

function readObjective(): void {
  const weights = objective.getWeights();
  let offset = 0;
  for (const w of Object.values(weights)) {
    w.values.set(objectiveCopy.subarray(offset, offset + w.values.length));
    offset += w.values.length;
  }
  objective.setWeights(weights);
}

function step(m: ReplicaStep): ReplicaMessage {
  if (!current || current.stage !== m.position.stage) throw new InvariantError(`replica: a step of stage "${m.position.stage}" without that stage's optimizer`);
  const { optimizer, gradients } = current;
  const variables = optimizer.variables;
  if (variables.length > variableRows) throw new InvariantError(`replica: ${variables.length} variables exceed the ${variableRows} the pool was sized for`);
  let values: number[] = [];
  let terms: string[] = [];
  let updates: Array<{ variable: tf.Variable; value: tf.Tensor }> = [];
  if (m.shard) {
    const shard = { gather: gatherFrom(m, m.shard.size), start: m.start };
    const g = gradients.compute(variables, m.shard, m.position, { training: m.training, shard });
    const share = m.shard.size / m.total;
    writeGradients(variables, g.grads, share);
    values = Array.from(g.values.dataSync(), (v) => v * share);
    terms = g.terms;
    updates = g.updates;
    tf.dispose([...Object.values(g.grads), g.values]);
  }
  // Buffers updated from a shard alone (BCE3S's memory) differ between replicas: the first
  // worker's are kept (DistributedDataParallel's broadcast_buffers); it says so before the barrier.
  if (first) Atomics.store(control, CONTROL_COPY_OBJECTIVE, updates.length > 0 && init.workers > 1 ? 1 : 0);
  barrier(CONTROL_STEP, init.workers);
  const grads = summedGradients(variables, m.active);
  optimizer.setLearningRate(m.learningRate);
  optimizer.apply(grads);
  if (first) for (const u of updates) u.variable.assign(u.value);
  tf.dispose([...Object.values(grads), ...updates.map((u) => u.value)]);
  if (Atomics.load(control, CONTROL_COPY_OBJECTIVE) === 1) {
    if (first) writeObjective();
    barrier(CONTROL_STEP, init.workers);
    if (!first) readObjective();
  }
  return { kind: 'done', values, terms };
}

async function answer(m: ReplicaRequest): Promise<ReplicaMessage> {
  switch (m.kind) {
    case 'load':
      return load(m);
    case 'step':
      return step(m);
    case 'pull':
      return { kind: 'state', net: backbone.getWeights(), objective: objective.getWeights(), optimizer: current ? await current.optimizer.getWeights() : {} };
  }
}

const port = parentPort!;
const send = (m: ReplicaMessage) => port.postMessage(m);
// A request that throws rejects here, unhandled: the worker exits with its error, which the pool reports.
port.on('message', (m: ReplicaRequest) => void answer(m).then(send));
send({ kind: 'ready', description: backend.description });
