// Objectives by name: what `protoserve train --objective` accepts, and how a checkpoint's run
// configuration rebuilds the objective it was trained with (export, resume).
import { EplObjective } from './epl-objective.js';
import type { MarginHead } from './margin-heads.js';
import type { Objective, Task } from './objective.js';
import { SoftmaxCrossEntropy } from './softmax-cross-entropy.js';
import { TrainError } from '../train-error.js';

/** What an objective is built from besides its own options. */
export interface ObjectiveContext {
  /** The backbone's feature dimension. */
  features: number;
  classes: number;
  /** Training images per class (long-tail weighting, Many/Medium/Few). */
  classCounts: readonly number[];
  seed: number;
}

interface ObjectiveEntry {
  summary: string;
  /** What the objective trains (default classifier). */
  task?: Task;
  build(ctx: ObjectiveContext, options: Record<string, number | string | boolean>): Objective;
}

const OBJECTIVES: Record<string, ObjectiveEntry> = {
  'softmax-ce': {
    summary: 'linear classifier, softmax cross-entropy (baseline)',
    build: (ctx) => new SoftmaxCrossEntropy(ctx),
  },
  epl: {
    summary: 'embedder: EPL, empirical prototypes on a --head cosface|arcface|uniface margin head',
    task: 'embedder',
    build: (ctx, o) => new EplObjective({ ...ctx, ...marginOptions(o, ['head', 'scale', 'margin', 'k', 'startEpoch']), epl: true }),
  },
  margin: {
    summary: 'embedder: the --head margin head alone, without EPL (baseline)',
    task: 'embedder',
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

export function describeObjectives(): Array<{ name: string; summary: string }> {
  return Object.entries(OBJECTIVES).map(([name, e]) => ({ name, summary: e.summary }));
}

/** What the named objective trains. */
export function objectiveTask(name: string): Task {
  const entry = OBJECTIVES[name];
  if (!entry) throw new TrainError('UNKNOWN_OBJECTIVE', `Unsupported objective: "${name}". Should be one of: ${OBJECTIVE_NAMES.join(', ')}`);
  return entry.task ?? 'classifier';
}

export function buildObjective(name: string, ctx: ObjectiveContext, options: Record<string, number | string | boolean> = {}): Objective {
  const entry = OBJECTIVES[name];
  if (!entry) throw new TrainError('UNKNOWN_OBJECTIVE', `Unsupported objective: "${name}". Should be one of: ${OBJECTIVE_NAMES.join(', ')}`);
  return entry.build(ctx, options);
}
