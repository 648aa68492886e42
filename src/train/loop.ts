// The training loop: epochs over a seeded permutation, one optimizer step per batch, a progress
// line, periodic checkpoints, resume from the last checkpoint, and held-out accuracy per epoch.
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { Progress, formatDuration } from '../progress.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { BatchMaker } from './data/batches.js';
import { pixelsPerImage, takeSplit, type ImageDataset } from './data/image-dataset.js';
import { epochPermutation } from './data/rng.js';
import type { Net, NamedWeights } from './nets/net.js';
import type { Objective } from './objectives/objective.js';
import type { RunConfig } from './run-config.js';

export interface EpochRecord {
  epoch: number;
  loss: number;
  testAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface EpochTotals {
  lossSum: number;
  steps: number;
  images: number;
  seconds: number;
}

const NO_TOTALS: EpochTotals = { lossSum: 0, steps: 0, images: 0, seconds: 0 };

export interface RunState {
  config: RunConfig;
  /** Completed epochs. */
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
  dataset: ImageDataset;
  net: Net;
  objective: Objective;
  backend: string;
  checkpointPath: string;
  resume: boolean;
  log?: (line: string) => void;
}

export interface TrainResult {
  state: RunState;
  /** True when all configured epochs are done (false when stopped by maxSteps). */
  complete: boolean;
}

function makeOptimizer(c: RunConfig): tf.Optimizer {
  return c.optimizer === 'adam' ? tf.train.adam(c.learningRate) : tf.train.momentum(c.learningRate, c.momentum);
}

/**
 * The optimizer's slots, keyed `<position of the variable in trainableVariables()>/<slot>`:
 * tfjs names slots after its variables' generated ids, which differ from process to process,
 * and restores them by position anyway.
 */
async function optimizerWeights(optimizer: tf.Optimizer, variables: tf.Variable[]): Promise<NamedWeights> {
  const position = new Map(variables.map((v, i) => [v.name, String(i)]));
  const out: NamedWeights = {};
  for (const { name, tensor } of await optimizer.getWeights()) {
    const slash = name.lastIndexOf('/');
    const key = slash > 0 ? `${position.get(name.slice(0, slash)) ?? name.slice(0, slash)}${name.slice(slash)}` : name;
    out[key] = { shape: tensor.shape, values: Float32Array.from(await tensor.data()) };
  }
  return out;
}

async function restoreOptimizer(optimizer: tf.Optimizer, weights: NamedWeights): Promise<void> {
  const named = Object.entries(weights).map(([name, { shape, values }]) => ({ name, tensor: tf.tensor(values, shape) }));
  await optimizer.setWeights(named);
  for (const { tensor } of named) tensor.dispose();
}

/** Top-1 accuracy of `net` on the dataset's test split (limited by config.testLimit). */
export function evaluateAccuracy(net: Net, dataset: ImageDataset, limit?: number, batchSize = 256): number {
  const maker = new BatchMaker(dataset);
  const split = limit ? takeSplit(dataset.test, limit, pixelsPerImage(dataset)) : dataset.test;
  const { height, width, channels } = dataset;
  let correct = 0;
  for (const batch of maker.sequential(split, batchSize)) {
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(batch.pixels, [batch.size, height, width, channels]);
      return net.apply(x, false).argMax(1);
    });
    const p = predicted.dataSync();
    predicted.dispose();
    for (let i = 0; i < batch.size; i++) if (p[i] === batch.labels[i]) correct++;
  }
  return correct / split.count;
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { config, dataset, net, objective } = opts;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const optimizer = makeOptimizer(config);
  let state: RunState = { config, epoch: 0, stepInEpoch: 0, epochTotals: { ...NO_TOTALS }, globalStep: 0, history: [], backend: opts.backend };

  if (opts.resume && existsSync(opts.checkpointPath)) {
    const ckpt = readCheckpoint<RunState>(opts.checkpointPath);
    net.setWeights(ckpt.weights);
    await restoreOptimizer(optimizer, ckpt.optimizer);
    // The stored configuration wins, except for the number of epochs, which may be extended.
    state = {
      ...ckpt.state,
      epochTotals: ckpt.state.epochTotals ?? { ...NO_TOTALS },
      config: { ...ckpt.state.config, epochs: config.epochs, maxSteps: config.maxSteps },
      backend: opts.backend,
    };
    log(`resumed from ${opts.checkpointPath}: epoch ${state.epoch + 1}, step ${state.stepInEpoch}, global step ${state.globalStep}`);
  } else if (opts.resume) {
    log(`no checkpoint at ${opts.checkpointPath}; starting from scratch`);
  }

  const c = state.config;
  const train = c.trainLimit ? takeSplit(dataset.train, c.trainLimit, pixelsPerImage(dataset)) : dataset.train;
  const stepsPerEpoch = Math.ceil(train.count / c.batchSize);
  const maker = new BatchMaker(dataset);
  const { height, width, channels } = dataset;
  const variables = net.trainableVariables();
  const save = async () =>
    writeCheckpoint(opts.checkpointPath, { state, weights: net.getWeights(), optimizer: await optimizerWeights(optimizer, variables) });

  let stepsThisRun = 0;
  const totalImages = (c.epochs - state.epoch) * train.count - state.stepInEpoch * c.batchSize;
  const progress = new Progress({ unit: 'img', total: Math.max(totalImages, 0) });
  while (state.epoch < c.epochs) {
    const order = epochPermutation(train.count, c.seed, state.epoch);
    const totals = state.epochTotals;
    let segmentStart = performance.now();
    for (let step = state.stepInEpoch; step < stepsPerEpoch; step++) {
      if (c.maxSteps !== undefined && stepsThisRun >= c.maxSteps) {
        totals.seconds += (performance.now() - segmentStart) / 1000;
        await save();
        progress.finish();
        log(`stopped after ${stepsThisRun} steps (max-steps), ${progress.rate().toFixed(1)} img/s; checkpoint at ${opts.checkpointPath}`);
        return { state, complete: false };
      }
      const batch = maker.make(train, step * c.batchSize, c.batchSize, order);
      const lossValue = tf.tidy(() => {
        const x = tf.tensor4d(batch.pixels, [batch.size, height, width, channels]);
        const y = tf.tensor1d(batch.labels, 'int32');
        const { value, grads } = tf.variableGrads(() => objective.loss(net.apply(x, true), y), variables);
        optimizer.applyGradients(grads);
        return value;
      });
      totals.lossSum += lossValue.dataSync()[0];
      lossValue.dispose();
      totals.steps++;
      totals.images += batch.size;
      stepsThisRun++;
      state.stepInEpoch = step + 1;
      state.globalStep++;
      progress.tick(
        batch.size,
        `epoch ${state.epoch + 1}/${c.epochs} step ${step + 1}/${stepsPerEpoch} loss ${(totals.lossSum / totals.steps).toFixed(4)}`,
      );
      if (c.checkpointEvery > 0 && state.globalStep % c.checkpointEvery === 0) {
        const now = performance.now();
        totals.seconds += (now - segmentStart) / 1000;
        segmentStart = now;
        await save();
      }
    }
    progress.finish();
    totals.seconds += (performance.now() - segmentStart) / 1000;
    const seconds = totals.seconds;
    const testAccuracy = evaluateAccuracy(net, dataset, c.testLimit);
    const record: EpochRecord = {
      epoch: state.epoch + 1,
      loss: totals.steps ? totals.lossSum / totals.steps : NaN,
      testAccuracy,
      seconds,
      imagesPerSecond: totals.images / seconds,
    };
    state.history.push(record);
    state.epoch++;
    state.stepInEpoch = 0;
    state.epochTotals = { ...NO_TOTALS };
    await save();
    log(
      `epoch ${record.epoch}/${c.epochs}: loss ${record.loss.toFixed(4)}, test accuracy ${(100 * testAccuracy).toFixed(2)}%, ` +
        `${record.imagesPerSecond.toFixed(1)} img/s, ${formatDuration(seconds)}`,
    );
  }
  optimizer.dispose();
  return { state, complete: true };
}
