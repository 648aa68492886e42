// The training loop: the run's stages in order, epochs over a seeded permutation, one optimizer
// step per batch (TrainStep), a progress line, periodic checkpoints, resume from the last
// checkpoint, and the caller's evaluation after every epoch.
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { Progress, formatDuration } from '../progress.js';
import { mulberry32, streamSeed } from '../seeded-random.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { epochPermutation } from './data/rng.js';
import { uniformSampler, type BatchSampler, type TrainingSource } from './data/training-source.js';
import type { Net, NamedWeights } from './nets/net.js';
import type { Objective, PrepareContext, PreparedStep, StageSpec, StepLoss, StepPosition } from './objectives/objective.js';
import { StageOptimizer } from './optimizer.js';
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
 * One optimizer step: the backbone over the prepared views, the objective's loss, gradients of
 * the stage's variables, the update, then the objective's buffer updates. Returns the loss and
 * its named terms as a tensor, not yet read (./pending-losses.ts).
 */
export class TrainStep {
  constructor(
    private readonly net: Net,
    private readonly objective: Objective,
    private readonly optimizer: StageOptimizer,
  ) {}

  run(prepared: PreparedStep, position: StepPosition): StepValues {
    const [h, w, c] = this.net.inputShape;
    const { size, views } = prepared;
    let out: StepLoss | undefined;
    const kept: tf.Tensor[] = [];
    const values = tf.tidy(() => {
      const x = tf.tensor4d(prepared.inputs, [views * size, h, w, c]);
      const labels = tf.tensor1d(prepared.labels, 'int32');
      const rows = Object.fromEntries(Object.entries(prepared.rows).map(([k, r]) => [k, tf.tensor2d(r.values, [size, r.width])]));
      const { value, grads } = tf.variableGrads(() => {
        const f = this.net.apply(x, true);
        const features = views === 1 ? [f] : (tf.split(f, views, 0) as tf.Tensor2D[]);
        out = this.objective.loss(
          { features, labels, labelValues: prepared.labels, rows, shared: prepared.shared },
          { ...position, gather: (t) => t },
        );
        // The terms and the buffer values outlive variableGrads' scope.
        kept.push(...Object.values(out.terms).map((t) => tf.keep(t)), ...out.updates.map((u) => tf.keep(u.value)));
        return out.loss;
      }, this.optimizer.variables);
      this.optimizer.apply(grads);
      const result = out!;
      for (const u of result.updates) u.variable.assign(u.value);
      return tf.stack([value, ...Object.values(result.terms)]) as tf.Tensor1D;
    });
    for (const t of kept) t.dispose();
    return { values, terms: Object.keys(out!.terms) };
  }
}

/** Steps whose losses may wait on the backend, and how long, before the loop reads them. */
const READ_LOSSES_EVERY_STEPS = 32;
const READ_LOSSES_EVERY_MS = 1000;

/** The variables a stage trains: the objective's, and the backbone's unless the stage freezes it. */
function stageOptimizer(config: StageConfig, spec: StageSpec, net: Net, objective: Objective): StageOptimizer {
  return new StageOptimizer(config, { backbone: spec.trainBackbone ? net.trainableVariables() : [], head: objective.trainableVariables(spec.name) });
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
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

  const stepsPerEpoch = Math.ceil(data.count / c.batchSize);
  const partners = opts.partnerSampler ?? uniformSampler(data.count);
  let optimizer: StageOptimizer | undefined;
  const save = async () =>
    writeCheckpoint(opts.checkpointPath, {
      state,
      weights: net.getWeights(),
      objective: objective.getWeights(),
      optimizer: optimizer ? await optimizer.getWeights() : {},
    });

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
    const stageOpt = stageOptimizer(stage, spec, net, objective);
    optimizer = stageOpt;
    if (savedSlots && !fresh) await stageOpt.setWeights(savedSlots);
    savedSlots = undefined;
    const step = new TrainStep(net, objective, stageOpt);
    // Every epoch of the run draws its own order: the stages before this one count too.
    const epochsBefore = c.stages.slice(0, state.stage).reduce((n, s) => n + s.epochs, 0);
    const label = c.stages.length > 1 ? `${spec.name} ` : '';

    while (state.epoch < stage.epochs) {
      const position: StepPosition = { stage: spec.name, epoch: state.epoch + 1 };
      const learningRate = learningRateAt(stage, position.epoch);
      stageOpt.setLearningRate(learningRate);
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
          await save();
          progress.finish();
          stageOpt.dispose();
          log(`stopped after ${stepsThisRun} steps (max-steps), ${progress.rate().toFixed(1)} img/s; checkpoint at ${opts.checkpointPath}`);
          return { state, complete: false, imagesPerSecond: thisRun.images / thisRun.seconds };
        }
        // One stream of random numbers per step drives augmentation, partner batches and the
        // objective's choices, so a resumed run repeats them exactly.
        const random = mulberry32(streamSeed(c.seed, `step ${state.globalStep}`));
        const batch = await data.read(order.subarray(i * c.batchSize, (i + 1) * c.batchSize), random);
        const ctx: PrepareContext = { ...position, random, drawBatch: (size) => data.read(partners.sample(size, random), random) };
        losses.push(step.run(await objective.prepare(batch, ctx), position));
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
          await save();
        }
      }
      readLosses();
      progress.finish();
      endSegment();
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
        stageOpt.dispose();
        optimizer = undefined;
        state.stage++;
        state.epoch = 0;
      }
      await save();
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
