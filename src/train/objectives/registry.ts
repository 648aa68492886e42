// Objectives by name: what `protoserve train --objective` accepts, what each trains (classifier
// or embedder), its stages (and the optimizer settings its reference uses in them), its own
// options (`protoserve train` flags, recorded in the run's objectiveOptions), and how a
// checkpoint's run configuration rebuilds the objective it was trained with (export, resume).
import type { StageConfig } from '../run-config.js';
import { Bce3s, BCE3S_SETTINGS, BCE3S_STAGES } from './bce3s.js';
import { EplObjective } from './epl-objective.js';
import { LogitAdjustedCrossEntropy } from './logit-adjusted-ce.js';
import type { MarginHead } from './margin-heads.js';
import type { Objective, StageSpec, Task } from './objective.js';
import { SoftmaxCrossEntropy } from './softmax-cross-entropy.js';
import { TrainError } from '../train-error.js';
import { InvariantError } from '../../errors.js';

/** What an objective is built from besides its own options. */
export interface ObjectiveContext {
  /** The backbone's feature dimension. */
  features: number;
  classes: number;
  /** Training images per class (long-tail weighting, Many/Medium/Few). */
  classCounts: readonly number[];
  seed: number;
  /** [height, width, channels] of the training images (objectives that build views from them). */
  inputShape?: readonly [number, number, number];
}

export type ObjectiveOptions = Record<string, number | string | boolean>;

/** One numeric option of an objective: `protoserve train --<flag> X`, stored as objectiveOptions[key]. */
export interface ObjectiveOption {
  key: string;
  flag: string;
  default: number;
  help: string;
}

/** Optimizer settings of a stage that differ from the run's defaults (the objective's reference). */
export type StageDefaults = Partial<Omit<StageConfig, 'name'>>;

interface ObjectiveEntry {
  summary: string;
  /** What the objective trains (default classifier). */
  task?: Task;
  stages: readonly StageSpec[];
  stageDefaults?: Record<string, StageDefaults>;
  /**
   * Numeric options, each a `protoserve train` flag of its own (long-tail-flags.ts). Embedder
   * objectives list none: their options come from the embedder flags (embedder-options.ts) and
   * their build checks them (marginOptions).
   */
  options: readonly ObjectiveOption[];
  build(ctx: ObjectiveContext, options: ObjectiveOptions): Objective;
}

const TRAIN_STAGE: readonly StageSpec[] = [{ name: 'train', trainBackbone: true }];

const OBJECTIVES: Record<string, ObjectiveEntry> = {
  'softmax-ce': {
    summary: 'linear classifier, softmax cross-entropy (baseline)',
    stages: TRAIN_STAGE,
    options: [],
    build: (ctx) => new SoftmaxCrossEntropy(ctx),
  },
  'logit-adjusted-ce': {
    summary: 'linear classifier, softmax CE on logits + tau log(prior) in training (Menon et al. 2021)',
    stages: TRAIN_STAGE,
    options: [{ key: 'tau', flag: 'tau', default: 1, help: 'scale of the log-prior added to the training logits' }],
    build: (ctx, o) => new LogitAdjustedCrossEntropy(ctx, { tau: o.tau as number }),
  },
  bce3s: {
    summary: 'BCE3S (AAAI 2026): joint + contrastive + uniform BCE, then classifier re-balancing',
    stages: BCE3S_STAGES,
    // The reference's scripts (LOSSES.md): stage 1 SGD lr 0.01, momentum 0.9, weight decay 5e-3,
    // cosine; stage 2 SGD lr 1e-4, no weight decay, 10 epochs, cosine.
    stageDefaults: {
      joint: { optimizer: 'sgd', learningRate: 0.01, momentum: 0.9, weightDecay: 5e-3, schedule: 'cosine' },
      rebalance: { optimizer: 'sgd', learningRate: 1e-4, momentum: 0.9, weightDecay: 0, schedule: 'cosine', epochs: 10 },
    },
    options: [
      { key: 'r', flag: 'r', default: BCE3S_SETTINGS.r, help: 'partial negatives: int(r * C) classes kept in the original view\'s BCE and in stage 2 (1: all)' },
      { key: 'ssWeight', flag: 'ss-weight', default: BCE3S_SETTINGS.ssWeight, help: 'weight of the contrastive (sample-sample) term' },
      { key: 'ccWeight', flag: 'cc-weight', default: BCE3S_SETTINGS.ccWeight, help: 'weight of the uniform (classifier-classifier) term' },
      { key: 'temperature', flag: 'temperature', default: BCE3S_SETTINGS.temperature, help: 'tau of the contrastive cosines' },
      { key: 'projectionDim', flag: 'projection-dim', default: BCE3S_SETTINGS.projectionDim, help: 'output size p of the projector' },
      { key: 'beta', flag: 'beta', default: BCE3S_SETTINGS.beta, help: 'stage 2: class weights (1 - beta) / (1 - beta^n_c)' },
      { key: 'maxNormFraction', flag: 'maxnorm-thresh', default: BCE3S_SETTINGS.maxNormFraction, help: 'stage 2: rows capped at min + X (max - min) of the norms at the stage start' },
    ],
    build: (ctx, o) => {
      if (!ctx.inputShape) throw new InvariantError('bce3s: the objective needs the images\' inputShape to build its mixed views');
      return new Bce3s({ ...ctx, inputShape: ctx.inputShape }, o as Record<string, number>);
    },
  },
  epl: {
    summary: 'embedder: EPL, empirical prototypes on a --head cosface|arcface|uniface margin head',
    task: 'embedder',
    stages: TRAIN_STAGE,
    options: [],
    build: (ctx, o) => new EplObjective({ ...ctx, ...marginOptions(o, ['head', 'scale', 'margin', 'k', 'startEpoch']), epl: true }),
  },
  margin: {
    summary: 'embedder: the --head margin head alone, without EPL (baseline)',
    task: 'embedder',
    stages: TRAIN_STAGE,
    options: [],
    build: (ctx, o) => new EplObjective({ ...ctx, ...marginOptions(o, ['head', 'scale', 'margin']), epl: false }),
  },
};

/** The embedder objectives' options from a run configuration; refuses options they do not take. */
function marginOptions(o: Record<string, number | string | boolean>, accepted: string[]) {
  const unknown = Object.keys(o).filter((k) => !accepted.includes(k));
  if (unknown.length > 0) throw new TrainError('UNKNOWN_OBJECTIVE', `objective options ${unknown.join(', ')} do not apply here; it takes ${accepted.join(', ')}`);
  const num = (k: string) => (o[k] === undefined ? undefined : Number(o[k]));
  return { head: (o.head ?? 'arcface') as MarginHead, scale: num('scale'), margin: num('margin'), k: num('k'), startEpoch: num('startEpoch') };
}

export const OBJECTIVE_NAMES = Object.keys(OBJECTIVES);

function entry(name: string): ObjectiveEntry {
  const e = OBJECTIVES[name];
  if (!e) throw new TrainError('UNKNOWN_OBJECTIVE', `Unsupported objective: "${name}". Should be one of: ${OBJECTIVE_NAMES.join(', ')}`);
  return e;
}

/** What the named objective trains. */
export function objectiveTask(name: string): Task {
  return entry(name).task ?? 'classifier';
}

export function describeObjectives(): Array<{ name: string; summary: string; stages: string[]; options: readonly ObjectiveOption[] }> {
  return Object.entries(OBJECTIVES).map(([name, e]) => ({ name, summary: e.summary, stages: e.stages.map((s) => s.name), options: e.options }));
}

/** The objective's stages in order, each with the optimizer defaults of its reference. */
export function objectiveStages(name: string): Array<StageSpec & { defaults: StageDefaults }> {
  const e = entry(name);
  return e.stages.map((s) => ({ ...s, defaults: e.stageDefaults?.[s.name] ?? {} }));
}

/** Every option of every objective, by flag (a flag two objectives share has one meaning per objective). */
export function objectiveFlags(): string[] {
  return [...new Set(Object.values(OBJECTIVES).flatMap((e) => e.options.map((o) => o.flag)))];
}

/** Options given as `--<flag> X`, by the objective's keys; a flag of another objective is an error. */
export function optionsFromFlags(name: string, byFlag: Record<string, number>): ObjectiveOptions {
  const e = entry(name);
  const out: ObjectiveOptions = {};
  for (const [flag, value] of Object.entries(byFlag)) {
    const option = e.options.find((o) => o.flag === flag);
    if (!option) {
      const owners = Object.entries(OBJECTIVES).filter(([, x]) => x.options.some((o) => o.flag === flag)).map(([n]) => n);
      throw new TrainError('UNKNOWN_OBJECTIVE', `--${flag} is an option of ${owners.join(', ') || 'no objective'}, not of ${name}`);
    }
    out[option.key] = value;
  }
  return out;
}

/**
 * The objective's options with its defaults filled in. `given` is keyed by option key; a key the
 * objective does not have is an error that names the objectives that do have it.
 */
export function resolveObjectiveOptions(name: string, given: ObjectiveOptions): ObjectiveOptions {
  const e = entry(name);
  if (e.task === 'embedder') return given;
  for (const key of Object.keys(given)) {
    if (!e.options.some((o) => o.key === key)) {
      const owners = Object.entries(OBJECTIVES).filter(([, x]) => x.options.some((o) => o.key === key)).map(([n]) => n);
      throw new TrainError('UNKNOWN_OBJECTIVE', `objective option "${key}" does not apply to ${name}${owners.length ? ` (it is an option of ${owners.join(', ')})` : ''}`);
    }
  }
  return Object.fromEntries(e.options.map((o) => {
    const v = given[o.key] ?? o.default;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TrainError('TRAIN_CONFIG_INVALID', `--${o.flag}: expected a number, got ${String(v)}`);
    return [o.key, v];
  }));
}

export function buildObjective(name: string, ctx: ObjectiveContext, options: ObjectiveOptions = {}): Objective {
  return entry(name).build(ctx, resolveObjectiveOptions(name, options));
}
