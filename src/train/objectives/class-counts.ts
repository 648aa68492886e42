// Objectives that weight or offset classes by their training counts (class-balanced BCE, logit
// adjustment) are undefined for a class without training images: refuse it when the objective is
// built, with the way out, rather than fail at the first step.
import { TrainError } from '../train-error.js';

export function requireEveryClass(objective: string, classCounts: readonly number[]): void {
  const empty = classCounts.findIndex((n) => !(n > 0));
  if (empty >= 0) {
    throw new TrainError('TRAINING_DATA_INVALID', `${objective}: class ${empty} has no training image (counts ${classCounts.join(', ')}); its class weight is undefined. Use more training images (--train-limit, --max-per-class)`);
  }
}
