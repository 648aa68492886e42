// `protoserve train`: trains a classifier on a packaged dataset, with checkpoints and resume.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveTrainingBackend, TRAINING_BACKEND_NAMES } from './backends/index.js';
import { buildClassifier } from './build-net.js';
import { describeBackbones } from './nets/registry.js';
import { DATASET_NAMES, loadDataset } from './data/datasets.js';
import { readCheckpoint } from './checkpoint.js';
import { train, type RunState } from './loop.js';
import { SoftmaxCrossEntropy } from './objectives/softmax-cross-entropy.js';
import { DEFAULT_RUN_CONFIG, validateRunConfig, type RunConfig } from './run-config.js';

const HELP = `Usage: protoserve train [options]

Trains a classifier and writes checkpoints to the run folder; \`protoserve export --run <dir>\`
turns the run into a model artifact.

Options:
  --dataset NAME         ${DATASET_NAMES.join(' | ')} (default ${DEFAULT_RUN_CONFIG.dataset})
  --net NAME             backbone (default ${DEFAULT_RUN_CONFIG.net}):
${describeBackbones()
  .filter((b) => b.name.startsWith('resnet'))
  .map((b) => `                           ${b.name.padEnd(9)} ${b.summary}`)
  .join('\n')}
  --width N              backbone base width (default ${DEFAULT_RUN_CONFIG.width})
  --epochs N             (default ${DEFAULT_RUN_CONFIG.epochs})
  --batch-size N         (default ${DEFAULT_RUN_CONFIG.batchSize})
  --optimizer NAME       adam | sgd (default ${DEFAULT_RUN_CONFIG.optimizer})
  --lr X                 learning rate (default ${DEFAULT_RUN_CONFIG.learningRate})
  --momentum X           SGD momentum (default ${DEFAULT_RUN_CONFIG.momentum})
  --seed N               data order and initialization (default ${DEFAULT_RUN_CONFIG.seed})
  --train-limit N        use only the first N training images
  --test-limit N         evaluate on only the first N test images
  --max-steps N          stop after N steps in this invocation (a checkpoint is written)
  --checkpoint-every N   steps between checkpoints, 0 = per epoch (default ${DEFAULT_RUN_CONFIG.checkpointEvery})
  --out DIR              run folder (default runs/<dataset>-<net>)
  --resume               continue from the run folder's checkpoint
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
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      optimizer: { type: 'string' },
      lr: { type: 'string' },
      momentum: { type: 'string' },
      seed: { type: 'string' },
      'train-limit': { type: 'string' },
      'test-limit': { type: 'string' },
      'max-steps': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean', default: false },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const num = (v: string | undefined, field: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${field}: expected a number, got "${v}"`);
    return n;
  };
  const given: Partial<RunConfig> = {
    dataset: values.dataset,
    net: values.net,
    width: num(values.width, 'width'),
    epochs: num(values.epochs, 'epochs'),
    batchSize: num(values['batch-size'], 'batch-size'),
    optimizer: values.optimizer as RunConfig['optimizer'] | undefined,
    learningRate: num(values.lr, 'lr'),
    momentum: num(values.momentum, 'momentum'),
    seed: num(values.seed, 'seed'),
    trainLimit: num(values['train-limit'], 'train-limit'),
    testLimit: num(values['test-limit'], 'test-limit'),
    maxSteps: num(values['max-steps'], 'max-steps'),
    checkpointEvery: num(values['checkpoint-every'], 'checkpoint-every'),
  };
  const runDir = values.out ?? join('runs', `${given.dataset ?? DEFAULT_RUN_CONFIG.dataset}-${given.net ?? DEFAULT_RUN_CONFIG.net}`);
  const checkpointPath = join(runDir, 'checkpoint.ckpt');
  if (!values.resume && existsSync(checkpointPath)) {
    throw new Error(`${checkpointPath} exists: continue that run with --resume --out ${runDir}, or train into another --out folder`);
  }
  const stored = values.resume && existsSync(checkpointPath) ? readCheckpoint<RunState>(checkpointPath).state.config : undefined;
  const config = validateRunConfig(stored ? resumedConfig(stored, given) : { ...DEFAULT_RUN_CONFIG, ...defined(given), objective: 'softmax-ce' });

  const backend = await resolveTrainingBackend({ backend: values.backend });
  const dataset = loadDataset(config.dataset);
  mkdirSync(runDir, { recursive: true });
  console.error(
    `training ${config.net} (width ${config.width}) on ${dataset.name}: ${config.trainLimit ?? dataset.train.count} train / ` +
      `${config.testLimit ?? dataset.test.count} test images, ${config.epochs} epochs, batch ${config.batchSize}, ` +
      `${config.optimizer} lr ${config.learningRate}; run folder ${runDir}`,
  );
  const net = buildClassifier(config, dataset);
  const objective = new SoftmaxCrossEntropy(dataset.classNames.length);
  const { state, complete } = await train({
    config,
    dataset,
    net,
    objective,
    backend: backend.name,
    checkpointPath,
    resume: stored !== undefined,
  });
  const last = state.history.at(-1);
  const summary = {
    run: runDir,
    complete,
    backend: backend.name,
    epochs: state.epoch,
    steps: state.globalStep,
    testAccuracy: last?.testAccuracy,
    imagesPerSecond: last?.imagesPerSecond,
    history: state.history,
  };
  writeFileSync(join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  console.error(
    complete
      ? `done: ${state.epoch} epochs, test accuracy ${last ? (100 * last.testAccuracy).toFixed(2) : '?'}% ` +
          `(${dataset.test.count} test images${config.testLimit ? `, limited to ${config.testLimit}` : ''}); ` +
          `next: protoserve export --run ${runDir}`
      : `paused at epoch ${state.epoch + 1}, step ${state.stepInEpoch}; continue with --resume --out ${runDir}`,
  );
  net.dispose();
  return 0;
}

/** The keys of `o` whose value is not undefined. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * A resumed run keeps the configuration stored in its checkpoint (the net, the data and the
 * optimizer must be the ones the weights were trained with); only the number of epochs and
 * --max-steps may change. A flag that contradicts the stored value is an error, not ignored.
 */
function resumedConfig(stored: RunConfig, given: Partial<RunConfig>): RunConfig {
  const mutable = new Set<keyof RunConfig>(['epochs', 'maxSteps']);
  for (const [key, value] of Object.entries(defined(given)) as Array<[keyof RunConfig, unknown]>) {
    if (!mutable.has(key) && stored[key] !== value) {
      throw new Error(
        `--resume: ${key} ${String(value)} differs from the run's ${String(stored[key])}; a resumed run keeps its ` +
          `configuration (only --epochs and --max-steps may change). Leave the flag out, or train into a new --out folder.`,
      );
    }
  }
  return { ...stored, epochs: given.epochs ?? stored.epochs, maxSteps: given.maxSteps };
}
