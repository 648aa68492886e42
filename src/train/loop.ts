// The training loop: the run's stages in order, epochs over a seeded permutation, one optimizer
// step per batch (TrainStep), a progress line, periodic checkpoints, resume from the last
// checkpoint, and the caller's evaluation after every epoch.
import { copyFileSync, existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { Progress, formatDuration } from '../progress.js';
import { InvariantError } from '../errors.js';
import { mulberry32, streamSeed } from '../seeded-random.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { epochPermutation } from './data/rng.js';
import { uniformSampler, type BatchSampler, type TrainingSource } from './data/training-source.js';
import type { Net, NamedWeights } from './nets/net.js';
import type { Objective, PrepareContext, PreparedStep, StageSpec, StepPosition } from './objectives/objective.js';
import { AccumulatedGradients } from './parallel/accumulated-gradients.js';
import { ReplicaPool } from './parallel/replica-pool.js';
import { checkWasmStep, measureStepMemory } from './parallel/step-memory.js';
import type { RunShape } from './build-net.js';
import { stageOptimizer, type StageOptimizer } from './optimizer.js';
import { PendingLosses, type StepValues } from './pending-losses.js';
import type { RunConfig, StageConfig } from './run-config.js';
import { learningRateAt } from './schedule.js';
import { TrainError } from './train-error.js';

export interface EpochRecord {
  stage: string;
  /** 1-based within the stage. */
  epoch: number;
  learningRate: number;
  loss: number;
  /** Mean of each named part of the loss over the epoch's steps. */
  terms: Record<string, number>;
  /** What the run's evaluation measured after the epoch (e.g. test_accuracy). */
  metrics: Record<string, number>;
  seconds: number;
  imagesPerSecond: number;
}

export interface EpochTotals {
  lossSum: number;
  termSums: Record<string, number>;
  steps: number;
  images: number;
  seconds: number;
}

const noTotals = (): EpochTotals => ({ lossSum: 0, termSums: {}, steps: 0, images: 0, seconds: 0 });

export interface RunState {
  config: RunConfig;
  /** Index of the current stage in config.stages. */
  stage: number;
  /** Completed epochs of the current stage. */
  epoch: number;
  /** Steps done inside the current (incomplete) epoch. */
  stepInEpoch: number;
  /** Running totals of the current epoch, so an epoch resumed midway is recorded whole. */
  epochTotals: EpochTotals;
  globalStep: number;
  history: EpochRecord[];
  backend: string;
}

export interface TrainOptions {
  config: RunConfig;
  /** The training images (already limited to config.trainLimit by the caller). */
  data: TrainingSource;
  /** Where partner batches come from (default: uniform over images, with replacement). */
  partnerSampler?: BatchSampler;
  /** The backbone. */
  net: Net;
  objective: Objective;
  backend: string;
  checkpointPath: string;
  /** Continue from checkpointPath when it exists (the caller checked that config matches it). */
  resume: boolean;
  /** What replicas are built for, when config.workers > 1 (each worker builds the run's models from the configuration and this). */
  shape?: RunShape;
  /** Metrics after each epoch, recorded in the history (e.g. held-out accuracy). */
  evaluate?: (position: StepPosition) => Record<string, number>;
  log?: (line: string) => void;
}

export interface TrainResult {
  state: RunState;
  /** True when every stage is done (false when stopped by maxSteps). */
  complete: boolean;
  /** Training images per second in this invocation: steps and data, not evaluation or checkpoints. */
  imagesPerSecond: number;
}

/**
 * A stage's optimizer steps, and where the run's state is between them: in this thread
 * (TrainStep) or in data-parallel replicas (ReplicaTrainStep), whose state the loop's net,
 * objective and checkpoints see only through pull and push.
 */
export interface StepRunner {
  /** The learning rate of the steps that follow. */
  setLearningRate(learningRate: number): void;
  /** One optimizer step; the loss and its named terms as a tensor, not yet read (./pending-losses.ts). */
  run(prepared: PreparedStep, position: StepPosition): StepValues | Promise<StepValues>;
  /** Brings this thread's net and objective up to date with the steps; returns the optimizer's slots (for checkpoints). */
  pull(): Promise<NamedWeights>;
  /** Hands this thread's net and objective, changed between steps (endEpoch), to the steps. */
  push(): Promise<void>;
  dispose(): void;
}

/**
 * One optimizer step in this process: the backbone over the prepared views, the objective's
 * loss, gradients of the stage's variables (summed over `accumulate` micro-batches,
 * ./parallel/accumulated-gradients.ts), the update, then the objective's buffer updates.
 */
export class TrainStep implements StepRunner {
  private readonly gradients: AccumulatedGradients;

  constructor(
    net: Net,
    objective: Objective,
    private readonly optimizer: StageOptimizer,
    accumulate = 1,
  ) {
    this.gradients = new AccumulatedGradients(net, objective, accumulate);
  }

  setLearningRate(learningRate: number): void {
    this.optimizer.setLearningRate(learningRate);
  }

  run(prepared: PreparedStep, position: StepPosition): StepValues {
    const g = this.gradients.compute(this.optimizer.variables, prepared, position);
    this.optimizer.apply(g.grads);
    for (const u of g.updates) u.variable.assign(u.value);
    tf.dispose([...Object.values(g.grads), ...g.updates.map((u) => u.value)]);
    return { values: g.values, terms: g.terms };
  }

  pull(): Promise<NamedWeights> {
    return this.optimizer.getWeights();
  }

  async push(): Promise<void> {}

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Optimizer steps in data-parallel replicas (./parallel/replica-pool.ts), each with its own optimizer. */
export class ReplicaTrainStep implements StepRunner {
  private learningRate?: number;

  private constructor(
    private readonly pool: ReplicaPool,
    private readonly net: Net,
    private readonly objective: Objective,
  ) {}

  /** Gives the replicas this thread's net and objective and a new optimizer for `stage`, with `slots` (resume) or fresh. */
  static async start(pool: ReplicaPool, net: Net, objective: Objective, stage: string, slots: NamedWeights = {}): Promise<ReplicaTrainStep> {
    await pool.push({ net: net.getWeights(), objective: objective.getWeights() }, { stage, slots });
    return new ReplicaTrainStep(pool, net, objective);
  }

  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
  }

  run(prepared: PreparedStep, position: StepPosition): Promise<StepValues> {
    if (this.learningRate === undefined) throw new InvariantError('ReplicaTrainStep: a step before setLearningRate');
    return this.pool.step(prepared, position, this.learningRate);
  }

  async pull(): Promise<NamedWeights> {
    const { net, objective, optimizer } = await this.pool.pull();
    this.net.setWeights(net);
    this.objective.setWeights(objective);
    return optimizer;
  }

  push(): Promise<void> {
    return this.pool.push({ net: this.net.getWeights(), objective: this.objective.getWeights() });
  }

  /** The replicas' optimizers go with the next stage's push or with the pool. */
  dispose(): void {}
}

/** Steps whose losses may wait on the backend, and how long, before the loop reads them. */
const READ_LOSSES_EVERY_STEPS = 32;
const READ_LOSSES_EVERY_MS = 1000;

/** A stage's steps in this process, with the optimizer's `slots` when resuming inside the stage. */
async function localStep(config: StageConfig, spec: StageSpec, net: Net, objective: Objective, slots: NamedWeights | undefined, accumulate: number): Promise<TrainStep> {
  const optimizer = stageOptimizer(config, spec, net, objective);
  if (slots) await optimizer.setWeights(slots);
  return new TrainStep(net, objective, optimizer, accumulate);
}

/** Refuses, before the first step, a batch whose step cannot fit the wasm heap (./parallel/step-memory.ts). */
async function checkWasmMemory(c: RunConfig, net: Net, objective: Objective, spec: StageSpec): Promise<string> {
  const stage = c.stages.find((s) => s.name === spec.name)!;
  const trainable = [...(spec.trainBackbone ? net.trainableVariables() : []), ...objective.trainableVariables(spec.name)];
  const accumulate = c.accumulate ?? 1;
  const shape = {
    parameterBytes: 4 * trainable.reduce((n, v) => n + v.size, 0),
    parameterCopies: (stage.optimizer === 'adam' ? 2 : stage.momentum > 0 ? 1 : 0) + (accumulate > 1 ? 1 : 0),
  };
  const plan = checkWasmStep(await measureStepMemory(net), shape, { net: net.name, inputShape: net.inputShape, batchSize: c.batchSize, accumulate, workers: c.workers ?? 1 });
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  return `wasm memory: a pass of ${plan.microBatch} images needs about ${gib(plan.bytes)} GiB of the ${gib(plan.budget)} GiB usable (at most ${plan.largest} images per pass)`;
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const workers = opts.config.workers ?? 1;
  if (workers === 1) return trainOn(opts);
  if (!opts.shape) throw new InvariantError('train: --workers needs the run shape to build replicas');
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { net, objective, config } = opts;
  const { pool, description } = await ReplicaPool.start({ workers, config: { ...config, maxSteps: undefined }, shape: opts.shape, backend: opts.backend, net, objective });
  log(`data-parallel: ${workers} workers, each on ${description}, shards of about ${Math.ceil(config.batchSize / workers)} images`);
  try {
    return await trainOn(opts, pool);
  } finally {
    await pool.close();
  }
}

async function trainOn(opts: TrainOptions, pool?: ReplicaPool): Promise<TrainResult> {
  const { config: c, data, net, objective } = opts;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const specs = objective.stages;
  const names = c.stages.map((s) => s.name).join(', ');
  if (names !== specs.map((s) => s.name).join(', ')) {
    throw new TrainError('RESUME_MISMATCH', `the run configures stages [${names}], objective ${objective.name} has [${specs.map((s) => s.name).join(', ')}]`);
  }
  let state: RunState = { config: c, stage: 0, epoch: 0, stepInEpoch: 0, epochTotals: noTotals(), globalStep: 0, history: [], backend: opts.backend };
  let savedSlots: NamedWeights | undefined;
  if (opts.resume && existsSync(opts.checkpointPath)) {
    const ckpt = readCheckpoint<RunState>(opts.checkpointPath);
    net.setWeights(ckpt.weights);
    objective.setWeights(ckpt.objective);
    savedSlots = ckpt.optimizer;
    state = { ...ckpt.state, config: c, backend: opts.backend };
    log(`resumed from ${opts.checkpointPath}: stage ${c.stages[state.stage]?.name ?? '(done)'}, epoch ${state.epoch + 1}, step ${state.stepInEpoch}, global step ${state.globalStep}`);
  } else if (opts.resume) {
    log(`no checkpoint at ${opts.checkpointPath}; starting from scratch`);
  }

  if (opts.backend === 'wasm' && state.stage < c.stages.length) log(await checkWasmMemory(c, net, objective, specs[state.stage]));

  const stepsPerEpoch = Math.ceil(data.count / c.batchSize);
  const partners = opts.partnerSampler ?? uniformSampler(data.count);
  // `slots`: the optimizer's, from step.pull() (which also brings net and objective up to date).
  const save = (slots: NamedWeights) => writeCheckpoint(opts.checkpointPath, { state, weights: net.getWeights(), objective: objective.getWeights(), optimizer: slots });

  const epochsLeft = c.stages.slice(state.stage).reduce((n, s) => n + s.epochs, 0) - state.epoch;
  const progress = new Progress({ unit: 'img', total: Math.max(epochsLeft * data.count - state.stepInEpoch * c.batchSize, 0) });
  let stepsThisRun = 0;
  // This invocation's training images and seconds, for its rate (an epoch may span invocations).
  const thisRun = { images: 0, seconds: 0 };
  const losses = new PendingLosses();
  while (state.stage < c.stages.length) {
    const stage = c.stages[state.stage];
    const spec = specs[state.stage];
    const fresh = state.epoch === 0 && state.stepInEpoch === 0;
    if (fresh) objective.beginStage?.(spec.name);
    const slots = fresh ? undefined : savedSlots;
    savedSlots = undefined;
    const step: StepRunner = pool ? await ReplicaTrainStep.start(pool, net, objective, spec.name, slots) : await localStep(stage, spec, net, objective, slots, c.accumulate ?? 1);
    // Every epoch of the run draws its own order: the stages before this one count too.
    const epochsBefore = c.stages.slice(0, state.stage).reduce((n, s) => n + s.epochs, 0);
    const label = c.stages.length > 1 ? `${spec.name} ` : '';

    while (state.epoch < stage.epochs) {
      const position: StepPosition = { stage: spec.name, epoch: state.epoch + 1 };
      const learningRate = learningRateAt(stage, position.epoch);
      step.setLearningRate(learningRate);
      const order = epochPermutation(data.count, c.seed, epochsBefore + state.epoch);
      const totals = state.epochTotals;
      const readLosses = () =>
        losses.read((loss, terms) => {
          totals.lossSum += loss;
          for (const [k, v] of Object.entries(terms)) totals.termSums[k] = (totals.termSums[k] ?? 0) + v;
          totals.steps++;
        });
      let segmentStart = performance.now();
      const endSegment = () => {
        const now = performance.now();
        totals.seconds += (now - segmentStart) / 1000;
        thisRun.seconds += (now - segmentStart) / 1000;
        segmentStart = now;
      };
      for (let i = state.stepInEpoch; i < stepsPerEpoch; i++) {
        if (c.maxSteps !== undefined && stepsThisRun >= c.maxSteps) {
          readLosses();
          endSegment();
          await save(await step.pull());
          progress.finish();
          step.dispose();
          log(`stopped after ${stepsThisRun} steps (max-steps), ${progress.rate().toFixed(1)} img/s; checkpoint at ${opts.checkpointPath}`);
          return { state, complete: false, imagesPerSecond: thisRun.images / thisRun.seconds };
        }
        // One stream of random numbers per step drives augmentation, partner batches and the
        // objective's choices, so a resumed run repeats them exactly.
        const random = mulberry32(streamSeed(c.seed, `step ${state.globalStep}`));
        const batch = await data.read(order.subarray(i * c.batchSize, (i + 1) * c.batchSize), random);
        const ctx: PrepareContext = { ...position, random, drawBatch: (size) => data.read(partners.sample(size, random), random) };
        losses.push(await step.run(await objective.prepare(batch, ctx), position));
        totals.images += batch.size;
        thisRun.images += batch.size;
        stepsThisRun++;
        state.stepInEpoch = i + 1;
        state.globalStep++;
        // Losses are read about as often as the progress line prints (see PendingLosses).
        if (losses.due(READ_LOSSES_EVERY_STEPS, READ_LOSSES_EVERY_MS)) readLosses();
        const meanLoss = totals.steps ? (totals.lossSum / totals.steps).toFixed(4) : '-';
        progress.tick(batch.size, `${label}epoch ${position.epoch}/${stage.epochs} step ${i + 1}/${stepsPerEpoch} loss ${meanLoss}`);
        if (c.checkpointEvery > 0 && state.globalStep % c.checkpointEvery === 0) {
          readLosses();
          endSegment();
          await save(await step.pull());
        }
      }
      readLosses();
      progress.finish();
      endSegment();
      const slots = await step.pull();
      objective.endEpoch?.(position);
      const record: EpochRecord = {
        stage: spec.name,
        epoch: position.epoch,
        learningRate,
        loss: totals.steps ? totals.lossSum / totals.steps : NaN,
        terms: Object.fromEntries(Object.entries(totals.termSums).map(([k, v]) => [k, v / totals.steps])),
        metrics: opts.evaluate?.(position) ?? {},
        seconds: totals.seconds,
        imagesPerSecond: totals.images / totals.seconds,
      };
      state.history.push(record);
      state.epoch++;
      state.stepInEpoch = 0;
      state.epochTotals = noTotals();
      const stageDone = state.epoch === stage.epochs;
      if (stageDone) {
        // The next stage starts fresh: a new optimizer, no slots carried over.
        step.dispose();
        state.stage++;
        state.epoch = 0;
      } else if (objective.endEpoch) {
        await step.push();
      }
      await save(stageDone ? {} : slots);
      // A multi-stage run keeps each stage's end (e.g. BCE3S's stage-1 model, to run stage 2 again from).
      if (stageDone && c.stages.length > 1) copyFileSync(opts.checkpointPath, opts.checkpointPath.replace(/(\.ckpt)?$/, `.${spec.name}.ckpt`));
      const metrics = Object.entries(record.metrics).map(([k, v]) => `, ${k} ${formatMetric(k, v)}`).join('');
      log(
        `${label}epoch ${record.epoch}/${stage.epochs}: loss ${record.loss.toFixed(4)}${metrics}, lr ${learningRate.toPrecision(3)}, ` +
          `${record.imagesPerSecond.toFixed(1)} img/s, ${formatDuration(record.seconds)}`,
      );
      if (stageDone) break;
    }
  }
  return { state, complete: true, imagesPerSecond: thisRun.images / thisRun.seconds };
}

/** Accuracies as percentages, everything else with 4 significant digits. */
function formatMetric(name: string, value: number): string {
  return /accuracy/.test(name) ? `${(100 * value).toFixed(2)}%` : value.toPrecision(4);
}
