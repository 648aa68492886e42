// `protoserve train`: trains a backbone with an objective on a packaged dataset, with
// checkpoints and resume.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveTrainingBackend, TRAINING_BACKEND_NAMES } from './backends/index.js';
import { buildRunModels, classCounts } from './build-net.js';
import { readCheckpoint } from './checkpoint.js';
import { DATASET_NAMES, loadDataset } from './data/datasets.js';
import { evaluateLongTail, type LongTailEvaluation } from './evaluate-long-tail.js';
import { pixelsPerImage, takeSplit } from './data/image-dataset.js';
import { InMemorySource } from './data/training-source.js';
import { train, type RunState } from './loop.js';
import { backboneTakes, describeBackbones } from './nets/registry.js';
import { describeObjectives, OBJECTIVE_NAMES, objectiveTask } from './objectives/registry.js';
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
  --dataset NAME         ${DATASET_NAMES.join(' | ')} (default ${DEFAULT_RUN_CONFIG.dataset})
  --net NAME             backbone (default ${DEFAULT_RUN_CONFIG.net}):
${describeBackbones()
  .map((b) => `                           ${b.name.padEnd(13)} ${b.summary}`)
  .join('\n')}
  --width N              backbone base width (default ${DEFAULT_RUN_CONFIG.width})
  --objective NAME       the training objective (default ${DEFAULT_RUN_CONFIG.objective}):
${describeObjectives()
  .map((o) => `                           ${o.name.padEnd(12)} ${o.summary}`)
  .join('\n')}
  --train-limit N        use only the first N training images
  --test-limit N         evaluate on only the first N test images

${EMBEDDER_HELP}

Optimization (the first stage of the objective):
  --epochs N             (default ${DEFAULT_STAGE.epochs})
  --batch-size N         (default ${DEFAULT_RUN_CONFIG.batchSize})
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
                         (only --epochs and --max-steps may change)
  --max-steps N          stop after N steps in this invocation (a checkpoint is written)
  --checkpoint-every N   steps between checkpoints, 0 = per epoch (default ${DEFAULT_RUN_CONFIG.checkpointEvery})
  --backend NAME         force a training backend: ${TRAINING_BACKEND_NAMES.join(' | ')}
                         (default: the best that loads, in that order)
  -h, --help`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      dataset: { type: 'string' },
      net: { type: 'string' },
      width: { type: 'string' },
      objective: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
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
  const embedder = embedderFlags(values, given.objective, values.resume, num);
  Object.assign(given, defined(embedder.given));
  if (embedder.faceSet && values.dataset !== undefined) throw new TrainError('TRAIN_USAGE', '--data and --dataset exclude each other: --data DIR is the training set');
  const faces = embedder.faceSet ? await openFaceData(embedder.faceSet) : undefined;
  if (faces) Object.assign(given, { dataset: 'faces', faceData: faces.config });
  const runDir = values.out ?? join('runs', `${given.dataset ?? DEFAULT_RUN_CONFIG.dataset}-${given.net ?? DEFAULT_RUN_CONFIG.net}`);
  const checkpointPath = join(runDir, 'checkpoint.ckpt');
  if (!values.resume && existsSync(checkpointPath)) {
    throw new TrainError('RUN_EXISTS', `${checkpointPath} exists: continue that run with --resume --out ${runDir}, or train into another --out folder`);
  }
  const stored = values.resume && existsSync(checkpointPath) ? readCheckpoint<RunState>(checkpointPath).state : undefined;
  const config = validateRunConfig(stored ? resumedConfig(stored, given, stageGiven) : freshConfig(given, stageGiven));

  const backend = await resolveTrainingBackend({ backend: values.backend });
  if (objectiveTask(config.objective) === 'embedder') {
    mkdirSync(runDir, { recursive: true });
    return trainEmbedder({ config, runDir, checkpointPath, resume: stored !== undefined, backend: backend.name, faces: faces?.source });
  }
  const dataset = loadDataset(config.dataset);
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
  let evaluation: LongTailEvaluation | undefined;
  const evaluate = () => {
    evaluation = evaluateLongTail(backbone, objective, dataset, test, counts);
    return evaluation.metrics;
  };
  const trainSplit = config.trainLimit ? takeSplit(dataset.train, config.trainLimit, pixelsPerImage(dataset)) : dataset.train;
  const { state, complete, imagesPerSecond } = await train({
    config,
    data: new InMemorySource(dataset, trainSplit),
    net: backbone,
    objective,
    backend: backend.name,
    checkpointPath,
    resume: stored !== undefined,
    evaluate,
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
    workers: 1,
    history: state.history,
  };
  writeFileSync(join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const reports = writeRunReport(runDir, {
    run: runDir,
    complete,
    backend: backend.name,
    workers: 1,
    imagesPerSecond,
    config,
    dataset: { name: dataset.name, source: dataset.source, classNames: dataset.classNames, classCounts: counts, testImages: test.count },
    history: state.history,
    perClass: evaluation && { accuracy: evaluation.perClass, classifierNorms: evaluation.classifierNorms },
  });
  console.error(`report: ${reports.join(', ')}`);
  const testAccuracy = last?.metrics.test_accuracy;
  console.error(
    complete
      ? `done: ${state.history.length} epochs, test accuracy ${testAccuracy !== undefined ? (100 * testAccuracy).toFixed(2) : '?'}% ` +
          `(${test.count} test images${config.testLimit ? `, limited to ${config.testLimit}` : ''}); ` +
          `next: protoserve export --run ${runDir}`
      : `paused at ${config.stages.length > 1 ? `stage ${config.stages[state.stage].name}, ` : ''}epoch ${state.epoch + 1}, step ${state.stepInEpoch}; ` +
          `continue with --resume --out ${runDir}`,
  );
  objective.dispose();
  backbone.dispose();
  return 0;
}

/** The keys of `o` whose value is not undefined. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A new run: the defaults, the flags given, and one stage configuration per stage of the objective. */
function freshConfig(given: Partial<RunConfig>, stageGiven: Partial<StageConfig>): RunConfig {
  const config: RunConfig = { ...DEFAULT_RUN_CONFIG, ...defined(given), stages: [{ ...DEFAULT_STAGE, ...defined(stageGiven) }] };
  // Backbones without a base width (the face backbones) take none; embedders on a CIFAR ResNet
  // get an embedding layer unless told its size.
  if (given.width === undefined && !backboneTakes(config.net, 'width')) delete config.width;
  if (config.embeddingDim === undefined && objectiveTask(config.objective) === 'embedder' && config.net.startsWith('resnet')) config.embeddingDim = 128;
  return config;
}

/**
 * A resumed run keeps the configuration stored in its checkpoint (the net, the data, the
 * objective and the optimizer must be the ones the weights were trained with); only the first
 * stage's epochs (while it runs) and --max-steps may change. A flag that contradicts the stored
 * value is an error, not ignored.
 */
function resumedConfig(state: RunState, given: Partial<RunConfig>, stageGiven: Partial<StageConfig>): RunConfig {
  const stored = state.config;
  const differs = (key: string, value: unknown, was: unknown) =>
    new TrainError('RESUME_MISMATCH', 
      `--resume: ${key} ${String(value)} differs from the run's ${String(was)}; a resumed run keeps its ` +
        `configuration (only --epochs and --max-steps may change). Leave the flag out, or train into a new --out folder.`,
    );
  for (const [key, value] of Object.entries(defined(given)) as Array<[keyof RunConfig, unknown]>) {
    const show = (v: unknown) => (typeof v === 'object' ? JSON.stringify(v) : v);
    if (key !== 'maxSteps' && JSON.stringify(stored[key]) !== JSON.stringify(value)) throw differs(key, show(value), show(stored[key]));
  }
  for (const [key, value] of Object.entries(defined(stageGiven)) as Array<[keyof StageConfig, unknown]>) {
    if (key !== 'epochs' && stored.stages[0][key] !== value) throw differs(key, value, stored.stages[0][key]);
  }
  const epochs = stageGiven.epochs;
  if (epochs !== undefined && epochs !== stored.stages[0].epochs && state.stage > 0) {
    throw new TrainError('RESUME_MISMATCH', `--resume: --epochs changes the first stage, which this run has finished; leave the flag out`);
  }
  const stages = stored.stages.map((s, i) => (i === 0 && epochs !== undefined ? { ...s, epochs } : s));
  return { ...stored, stages, maxSteps: given.maxSteps };
}
