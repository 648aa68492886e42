// `protoserve train`: trains a backbone with an objective on a packaged dataset, with
// checkpoints and resume.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveTrainingBackend, TRAINING_BACKEND_NAMES } from './backends/index.js';
import { buildRunModels, classCounts } from './build-net.js';
import { readCheckpoint } from './checkpoint.js';
import { ClassRebalancedSampler } from './data/class-sampler.js';
import { CLASSIFIER_DATA_SETS, defaultAugmentation, loadRunDataset, TRAIN_DATASET_NAMES } from './data/run-dataset.js';
import { evaluateLongTail, type LongTailEvaluation } from './evaluate-long-tail.js';
import { pixelsPerImage, takeSplit } from './data/image-dataset.js';
import { InMemorySource } from './data/training-source.js';
import { LONG_TAIL_HELP, LONG_TAIL_OPTIONS, longTailFlags, type LongTailFlags } from './long-tail-flags.js';
import { train, type RunState } from './loop.js';
import type { StepPosition } from './objectives/objective.js';
import { backboneTakes, describeBackbones } from './nets/registry.js';
import { describeObjectives, OBJECTIVE_NAMES, objectiveStages, objectiveTask, optionsFromFlags, resolveObjectiveOptions } from './objectives/registry.js';
import { EMBEDDER_FLAGS, EMBEDDER_HELP, embedderFlags } from './embedder-options.js';
import { openFaceData, trainEmbedder } from './train-embedder.js';
import { writeRunReport } from './run-report.js';
import { DEFAULT_RUN_CONFIG, DEFAULT_STAGE, validateRunConfig, type RunConfig, type StageConfig } from './run-config.js';
import { SCHEDULE_NAMES } from './schedule.js';
import { TrainError } from './train-error.js';

const HELP = `Usage: protoserve train [options]

Trains a backbone with an objective and writes checkpoints to the run folder;
\`protoserve export --run <dir>\` turns the run into a model artifact.

Data and model:
  --dataset NAME         ${TRAIN_DATASET_NAMES.join(' | ')} (default ${DEFAULT_RUN_CONFIG.dataset})
  --net NAME             backbone (default ${DEFAULT_RUN_CONFIG.net}):
${describeBackbones()
  .map((b) => `                           ${b.name.padEnd(13)} ${b.summary}`)
  .join('\n')}
  --width N              backbone base width (default ${DEFAULT_RUN_CONFIG.width})
  --objective NAME       the training objective (default ${DEFAULT_RUN_CONFIG.objective}):
${describeObjectives()
  .map((o) => `                           ${o.name.padEnd(18)} ${o.summary}`)
  .join('\n')}
  --train-limit N        use only the first N training images
  --test-limit N         evaluate on only the first N test images

${EMBEDDER_HELP}

Optimization (the first stage of the objective; bce3s's defaults are its reference's:
sgd, lr 0.01, momentum 0.9, weight decay 5e-3, cosine):
  --epochs N             (default ${DEFAULT_STAGE.epochs})
  --batch-size N         images per optimizer step (default ${DEFAULT_RUN_CONFIG.batchSize}), however many
                         micro-batches and workers compute it
  --accumulate N         split each batch into N micro-batches run one after another and sum their
                         gradients (weighted by their images): one optimizer step of the whole batch
                         with the memory of one micro-batch. Batch norm normalizes each micro-batch
                         with its own statistics and updates its moving averages once per
                         micro-batch. Objectives that update buffers from the whole batch (EPL's
                         empirical prototypes) see the whole batch: a forward pass without
                         gradients over all micro-batches collects it first (one more forward
                         pass per step). (default 1)
  --workers N            data-parallel training on N worker threads, one replica each on its own
                         backend instance (each wasm worker has its own heap), as PyTorch's
                         DistributedDataParallel: every batch is split into N shards, the gradients
                         averaged through shared memory, and every replica applies the same
                         synchronous update with its own optimizer (weights stay in the workers
                         between checkpoints and epochs). Batch norm uses each shard's statistics
                         (per-shard, not synchronized); its moving averages are the first
                         worker's. Objectives that update buffers from the whole batch see the
                         whole batch; buffers updated from a shard alone (bce3s's memory) are the
                         first worker's. With --accumulate M each worker runs its shard as M
                         micro-batches. Same seed and N: same run. (default 1)
  --optimizer NAME       adam | sgd (default ${DEFAULT_STAGE.optimizer})
  --lr X                 learning rate (default ${DEFAULT_STAGE.learningRate})
  --momentum X           SGD momentum (default ${DEFAULT_STAGE.momentum})
  --weight-decay X       L2 weight decay added to the gradients, as torch.optim (default ${DEFAULT_STAGE.weightDecay})
  --schedule NAME        ${SCHEDULE_NAMES.join(' | ')} (default ${DEFAULT_STAGE.schedule}); cosine as PyTorch's
                         CosineAnnealingLR stepped at each epoch's start: epoch e of E runs at
                         lr (1 + cos(pi e / E)) / 2, the last at 0
  --warmup-epochs N      linear warmup over the first N epochs (default ${DEFAULT_STAGE.warmupEpochs})
  --clip-grad-norm X     clip the gradient norm of the backbone and of the head, each to X (default 0: off)
  --seed N               initialization, data order and every random choice of the objective (default ${DEFAULT_RUN_CONFIG.seed})

Run control:
  --out DIR              run folder (default runs/<dataset>-<net>)
  --resume               continue from the run folder's checkpoint; the run keeps its configuration
                         (only --epochs, --stage2-epochs and --max-steps may change, and the
                         settings of a stage that has not begun; each stage's end of a two-stage
                         run stays as <run>/checkpoint.<stage>.ckpt)
  --max-steps N          stop after N steps in this invocation (a checkpoint is written)
  --checkpoint-every N   steps between checkpoints, 0 = per epoch (default ${DEFAULT_RUN_CONFIG.checkpointEvery})
  --backend NAME         force a training backend: ${TRAINING_BACKEND_NAMES.join(' | ')}
                         (default: the best that loads, in that order)
  -h, --help

${LONG_TAIL_HELP}`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowNegative: true,
    options: {
      ...LONG_TAIL_OPTIONS,
      dataset: { type: 'string' },
      net: { type: 'string' },
      width: { type: 'string' },
      objective: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      accumulate: { type: 'string' },
      workers: { type: 'string' },
      optimizer: { type: 'string' },
      lr: { type: 'string' },
      momentum: { type: 'string' },
      'weight-decay': { type: 'string' },
      schedule: { type: 'string' },
      'warmup-epochs': { type: 'string' },
      'clip-grad-norm': { type: 'string' },
      seed: { type: 'string' },
      'train-limit': { type: 'string' },
      'test-limit': { type: 'string' },
      'max-steps': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean', default: false },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      ...EMBEDDER_FLAGS,
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const num = (v: string | undefined, field: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new TrainError('TRAIN_USAGE', `--${field}: expected a number, got "${v}"`);
    return n;
  };
  const given: Partial<RunConfig> = {
    dataset: values.dataset,
    net: values.net,
    width: num(values.width, 'width'),
    objective: values.objective,
    batchSize: num(values['batch-size'], 'batch-size'),
    // 1 is the default and is not stored, so a run configured before these flags resumes with them.
    accumulate: oneIsDefault(num(values.accumulate, 'accumulate')),
    workers: oneIsDefault(num(values.workers, 'workers')),
    seed: num(values.seed, 'seed'),
    trainLimit: num(values['train-limit'], 'train-limit'),
    testLimit: num(values['test-limit'], 'test-limit'),
    maxSteps: num(values['max-steps'], 'max-steps'),
    checkpointEvery: num(values['checkpoint-every'], 'checkpoint-every'),
  };
  const stageGiven: Partial<StageConfig> = {
    epochs: num(values.epochs, 'epochs'),
    optimizer: values.optimizer as StageConfig['optimizer'] | undefined,
    learningRate: num(values.lr, 'lr'),
    momentum: num(values.momentum, 'momentum'),
    weightDecay: num(values['weight-decay'], 'weight-decay'),
    schedule: values.schedule as StageConfig['schedule'] | undefined,
    warmupEpochs: num(values['warmup-epochs'], 'warmup-epochs'),
    clipGradNorm: num(values['clip-grad-norm'], 'clip-grad-norm'),
  };
  if (given.objective !== undefined && !OBJECTIVE_NAMES.includes(given.objective)) {
    throw new TrainError('UNKNOWN_OBJECTIVE', `Unsupported objective: "${given.objective}". Should be one of: ${OBJECTIVE_NAMES.join(', ')}`);
  }
  const lt = longTailFlags(values);
  // --data is the files of --dataset cifar10|cifar100|folder, else a face training set (embedders);
  // --no-flip (flip false, parseArgs' negation) turns off the face set's flips too.
  const classifierData = given.dataset !== undefined && CLASSIFIER_DATA_SETS.includes(given.dataset);
  if (!classifierData) delete lt.given.data;
  if (given.dataset !== undefined && !classifierData && values.data !== undefined) {
    throw new TrainError('TRAIN_USAGE', `--data: ${given.dataset} is read from its package; --data applies to cifar10, cifar100 and folder, or, without --dataset, names a face training set`);
  }
  const embedder = embedderFlags(
    { ...values, data: classifierData ? undefined : values.data, 'no-flip': values.data !== undefined && !classifierData && (values as { flip?: boolean }).flip === false },
    given.objective,
    values.resume,
    num,
  );
  Object.assign(given, defined(embedder.given));
  if (embedder.faceSet && values.dataset !== undefined) throw new TrainError('TRAIN_USAGE', '--data and --dataset exclude each other: --data DIR is the training set');
  const faces = embedder.faceSet ? await openFaceData(embedder.faceSet) : undefined;
  if (faces) {
    Object.assign(given, { dataset: 'faces', faceData: faces.config });
    delete lt.given.augment;
  }
  const runDir = values.out ?? join('runs', `${given.dataset ?? DEFAULT_RUN_CONFIG.dataset}-${given.net ?? DEFAULT_RUN_CONFIG.net}`);
  const checkpointPath = join(runDir, 'checkpoint.ckpt');
  if (!values.resume && existsSync(checkpointPath)) {
    throw new TrainError('RUN_EXISTS', `${checkpointPath} exists: continue that run with --resume --out ${runDir}, or train into another --out folder`);
  }
  const stored = values.resume && existsSync(checkpointPath) ? readCheckpoint<RunState>(checkpointPath).state : undefined;
  const config = validateRunConfig(stored ? resumedConfig(stored, given, stageGiven, lt) : freshConfig(given, stageGiven, lt));

  const backend = await resolveTrainingBackend({ backend: values.backend });
  if (objectiveTask(config.objective) === 'embedder') {
    mkdirSync(runDir, { recursive: true });
    return trainEmbedder({ config, runDir, checkpointPath, resume: stored !== undefined, backend: backend.name, faces: faces?.source });
  }
  const dataset = await loadRunDataset(config);
  mkdirSync(runDir, { recursive: true });
  const first = config.stages[0];
  console.error(
    `training ${config.net}${config.width ? ` (width ${config.width})` : ''} with ${config.objective} on ${dataset.name}: ${config.trainLimit ?? dataset.train.count} train / ` +
      `${config.testLimit ?? dataset.test.count} test images, ${first.epochs} epochs, batch ${config.batchSize}, ` +
      `${first.optimizer} lr ${first.learningRate}; run folder ${runDir}`,
  );
  const { backbone, objective } = buildRunModels(config, dataset);
  const test = config.testLimit ? takeSplit(dataset.test, config.testLimit, pixelsPerImage(dataset)) : dataset.test;
  const counts = classCounts(config, dataset);
  console.error(`training images per class: ${counts.join(', ')}`);
  let evaluation: LongTailEvaluation | undefined;
  const evaluate = (position: StepPosition) => {
    const stageEpochs = config.stages.find((s) => s.name === position.stage)!.epochs;
    if (position.epoch % (config.evalEvery ?? 1) !== 0 && position.epoch !== stageEpochs) return {};
    evaluation = evaluateLongTail(backbone, objective, dataset, test, counts, { flip: config.evalFlip, groups: config.groupThresholds });
    return evaluation.metrics;
  };
  const trainSplit = config.trainLimit ? takeSplit(dataset.train, config.trainLimit, pixelsPerImage(dataset)) : dataset.train;
  const augment = config.augment && (config.augment.padding > 0 || config.augment.flip) ? config.augment : undefined;
  const { state, complete, imagesPerSecond } = await train({
    config,
    data: new InMemorySource(dataset, trainSplit, augment),
    partnerSampler: config.partnerPower ? new ClassRebalancedSampler(trainSplit.labels, dataset.classNames.length, config.partnerPower) : undefined,
    net: backbone,
    objective,
    backend: backend.name,
    checkpointPath,
    resume: stored !== undefined,
    evaluate,
    shape: { inputShape: [dataset.height, dataset.width, dataset.channels], classCounts: counts },
  });
  const last = state.history.at(-1);
  const summary = {
    run: runDir,
    complete,
    backend: backend.name,
    stage: config.stages[state.stage]?.name ?? null,
    epochs: state.history.length,
    steps: state.globalStep,
    metrics: last?.metrics,
    imagesPerSecond,
    workers: config.workers ?? 1,
    history: state.history,
  };
  writeFileSync(join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const reports = writeRunReport(runDir, {
    run: runDir,
    complete,
    backend: backend.name,
    workers: config.workers ?? 1,
    imagesPerSecond,
    config,
    dataset: { name: dataset.name, source: dataset.source, classNames: dataset.classNames, classCounts: counts, testImages: test.count },
    history: state.history,
    perClass: evaluation && { accuracy: evaluation.perClass, classifierNorms: evaluation.classifierNorms },
  });
  console.error(`report: ${reports.join(', ')}`);
  const testAccuracy = last?.metrics.test_accuracy;
  const pct = (k: string) => (last?.metrics[k] !== undefined ? `${(100 * last.metrics[k]).toFixed(2)}%` : '-');
  console.error(
    complete
      ? `done: ${state.history.length} epochs, test accuracy ${testAccuracy !== undefined ? (100 * testAccuracy).toFixed(2) : '?'}% ` +
          `(class-averaged ${pct('class_averaged_accuracy')}; many ${pct('many_accuracy')}, medium ${pct('medium_accuracy')}, few ${pct('few_accuracy')}) ` +
          `(${test.count} test images${config.testLimit ? `, limited to ${config.testLimit}` : ''}); ` +
          `next: protoserve export --run ${runDir}`
      : `paused at ${config.stages.length > 1 ? `stage ${config.stages[state.stage].name}, ` : ''}epoch ${state.epoch + 1}, step ${state.stepInEpoch}; ` +
          `continue with --resume --out ${runDir}`,
  );
  objective.dispose();
  backbone.dispose();
  return 0;
}

function oneIsDefault(n: number | undefined): number | undefined {
  return n === 1 ? undefined : n;
}

/** The keys of `o` whose value is not undefined. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * A new run: the defaults, the flags given, and one stage configuration per stage of the
 * objective (the run's defaults, then the objective reference's, then the flags: the first
 * stage's flags, and --stage2-* for the second).
 */
function freshConfig(given: Partial<RunConfig>, stageGiven: Partial<StageConfig>, lt: LongTailFlags): RunConfig {
  const base = { ...DEFAULT_RUN_CONFIG, ...defined(given), ...lt.given };
  // Backbones without a base width (the face backbones) take none.
  if (given.width === undefined && !backboneTakes(base.net, 'width')) delete base.width;
  const specs = objectiveStages(base.objective);
  if (specs.length < 2 && Object.keys(lt.stage2).length > 0) {
    throw new TrainError('TRAIN_USAGE', `--stage2-*: ${base.objective} has one stage (${specs[0].name}); the flags apply to two-stage objectives such as bce3s`);
  }
  const stages = specs.map((s, i) => ({ ...DEFAULT_STAGE, ...s.defaults, name: s.name, ...defined(i === 0 ? stageGiven : i === 1 ? lt.stage2 : {}) }));
  const objectiveOptions = resolveObjectiveOptions(base.objective, { ...base.objectiveOptions, ...optionsFromFlags(base.objective, lt.objectiveFlags) });
  if (objectiveTask(base.objective) === 'embedder') {
    // Face sets bring their own input conventions and flips (embedder-options.ts); embedders on a
    // CIFAR ResNet get an embedding layer unless told its size.
    const config: RunConfig = { ...base, objectiveOptions, stages };
    if (config.embeddingDim === undefined && config.net.startsWith('resnet')) config.embeddingDim = 128;
    return config;
  }
  const augment = { ...defaultAugmentation(base.dataset, base.imageSize), ...lt.given.augment };
  return {
    ...base,
    ...(base.dataset === 'folder' && { channels: base.channels ?? 3 }),
    ...(base.longTail && { longTail: { profile: 'exp', order: 'index', ...(base.longTail as Partial<NonNullable<RunConfig['longTail']>>), imbalance: base.longTail.imbalance } }),
    augment,
    evalFlip: lt.given.evalFlip ?? augment.flip,
    objectiveOptions,
    stages,
  };
}

/**
 * A resumed run keeps the configuration stored in its checkpoint (the net, the data and its long
 * tail, the augmentation, the objective and its options, the optimizer must be the ones the
 * weights were trained with); only the epochs of a stage not yet finished, --max-steps, and any
 * setting of a stage that has not begun may change. A flag that contradicts the stored value is
 * an error, not ignored.
 */
function resumedConfig(state: RunState, given: Partial<RunConfig>, stageGiven: Partial<StageConfig>, lt: LongTailFlags): RunConfig {
  // Classifier runs stored before augmentation and flip evaluation were settings had neither.
  const legacy = objectiveTask(state.config.objective) === 'classifier' ? { augment: { padding: 0, flip: false }, evalFlip: false } : {};
  const stored: RunConfig = { ...legacy, ...state.config };
  const differs = (key: string, value: unknown, was: unknown) =>
    new TrainError('RESUME_MISMATCH', 
      `--resume: ${key} ${show(value)} differs from the run's ${show(was)}; a resumed run keeps its ` +
        `configuration (only --epochs, --stage2-epochs and --max-steps may change). Leave the flag out, or train into a new --out folder.`,
    );
  const objectiveOptions = { ...given.objectiveOptions, ...optionsFromFlags(stored.objective, lt.objectiveFlags) };
  const contradiction = findContradiction({ ...defined(given), ...lt.given, objectiveOptions, maxSteps: undefined }, stored);
  if (contradiction) throw differs(...contradiction);
  const stagesGiven = [stageGiven, lt.stage2];
  if (stored.stages.length < 2 && Object.keys(lt.stage2).length > 0) throw new TrainError('TRAIN_USAGE', `--stage2-*: this run's objective ${stored.objective} has one stage`);
  const stages = stored.stages.map((s, i) => {
    const flags = defined(stagesGiven[i] ?? {});
    // A stage that has not begun may still change all its settings (e.g. stage 2 again from a stage-1 checkpoint).
    const begun = state.stage > i || (state.stage === i && (state.epoch > 0 || state.stepInEpoch > 0));
    if (!begun) return { ...s, ...flags };
    for (const [key, value] of Object.entries(flags) as Array<[keyof StageConfig, unknown]>) {
      if (key !== 'epochs' && s[key] !== value) throw differs(`${i === 0 ? '' : 'stage2-'}${key}`, value, s[key]);
    }
    if (flags.epochs === undefined || flags.epochs === s.epochs) return s;
    if (state.stage > i) throw new TrainError('RESUME_MISMATCH', `--resume: --${i === 0 ? '' : 'stage2-'}epochs changes stage ${s.name}, which this run has finished; leave the flag out`);
    // Fewer epochs than the stage has done cannot be honoured, and as many would end the stage
    // without its last epoch's evaluation and stage-end checkpoint.
    if (flags.epochs <= state.epoch) {
      throw new TrainError('RESUME_MISMATCH', `--resume: stage ${s.name} has completed ${state.epoch} epochs; --${i === 0 ? '' : 'stage2-'}epochs must be more than that (or left out)`);
    }
    return { ...s, epochs: flags.epochs };
  });
  return { ...stored, stages, maxSteps: given.maxSteps };
}

/** The first setting of `given` (nested objects compared key by key) that differs from `stored`, as [path, given, stored]. */
function findContradiction(given: object, stored: object, prefix = ''): [string, unknown, unknown] | undefined {
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    const was = (stored as Record<string, unknown>)[key];
    const path = prefix + key;
    if (isPlainObject(value)) {
      const found = findContradiction(value, isPlainObject(was) ? was : {}, `${path}.`);
      if (found) return found;
    } else if (JSON.stringify(value) !== JSON.stringify(was)) {
      return [path, value, was];
    }
  }
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}
