// Learning-rate schedules, per epoch. `cosine` is PyTorch's CosineAnnealingLR(T_max = epochs,
// eta_min = 0) stepped at the start of every epoch, as the BCE3S reference steps it: epoch e
// (1-based) of E runs at lr * (1 + cos(pi * e / E)) / 2, so the first epoch is already below lr
// and the last runs at 0. Warmup (optional) ramps linearly over the first W epochs
// (lr * e / W), after which the cosine runs over the remaining E - W epochs.

export type ScheduleName = 'constant' | 'cosine';
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['constant', 'cosine'];

export interface ScheduleConfig {
  learningRate: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  epochs: number;
}

/** The learning rate of 1-based `epoch`. */
export function learningRateAt(c: ScheduleConfig, epoch: number): number {
  if (epoch <= c.warmupEpochs) return (c.learningRate * epoch) / c.warmupEpochs;
  if (c.schedule === 'constant') return c.learningRate;
  const span = c.epochs - c.warmupEpochs;
  return (c.learningRate * (1 + Math.cos((Math.PI * (epoch - c.warmupEpochs)) / span))) / 2;
}
