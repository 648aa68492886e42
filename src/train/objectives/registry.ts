// Objectives by name: what `protoserve train --objective` accepts, and how a checkpoint's run
// configuration rebuilds the objective it was trained with (export, resume).
import type { Objective } from './objective.js';
import { SoftmaxCrossEntropy } from './softmax-cross-entropy.js';

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
  build(ctx: ObjectiveContext, options: Record<string, number | string | boolean>): Objective;
}

const OBJECTIVES: Record<string, ObjectiveEntry> = {
  'softmax-ce': {
    summary: 'linear classifier, softmax cross-entropy (baseline)',
    build: (ctx) => new SoftmaxCrossEntropy(ctx),
  },
};

export const OBJECTIVE_NAMES = Object.keys(OBJECTIVES);

export function describeObjectives(): Array<{ name: string; summary: string }> {
  return Object.entries(OBJECTIVES).map(([name, e]) => ({ name, summary: e.summary }));
}

export function buildObjective(name: string, ctx: ObjectiveContext, options: Record<string, number | string | boolean> = {}): Objective {
  const entry = OBJECTIVES[name];
  if (!entry) throw new Error(`Unsupported objective: "${name}". Should be one of: ${OBJECTIVE_NAMES.join(', ')}`);
  return entry.build(ctx, options);
}
