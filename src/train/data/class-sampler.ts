// The second batch x' of BCE3S's mixed views (LOSSES.md: "drawn from the (optionally
// class-rebalanced) sampler"). The reference draws it with torch's WeightedRandomSampler, with
// replacement, each image weighted 1 / n_c^q (q = its --resample_weighting): q = 0 is uniform over
// images (the reference's default, and its logged run), q = 1 draws each class with equal
// probability and then an image of it. Seeded and deterministic.
import { TrainError } from '../train-error.js';

export class ClassRebalancedSampler {
  private readonly byClass: Int32Array[];
  private readonly cumulative: Float64Array;

  /**
   * @param labels labels of the training split
   * @param power q: images weighted 1 / n_c^q (0 uniform, 1 class-balanced)
   */
  constructor(labels: ArrayLike<number>, numClasses: number, readonly power = 1) {
    if (!(power >= 0 && power <= 1)) throw new TrainError('TRAIN_CONFIG_INVALID', `rebalancing power must be in [0, 1], got ${power}`);
    const lists: number[][] = Array.from({ length: numClasses }, () => []);
    for (let i = 0; i < labels.length; i++) lists[labels[i]].push(i);
    this.byClass = lists.map((l) => Int32Array.from(l));
    // Class c is drawn with probability proportional to n_c * n_c^-q = n_c^(1-q).
    this.cumulative = new Float64Array(numClasses);
    let total = 0;
    this.byClass.forEach((list, c) => {
      total += list.length === 0 ? 0 : list.length ** (1 - power);
      this.cumulative[c] = total;
    });
    if (total === 0) throw new TrainError('TRAINING_DATA_INVALID', 'the sampler needs at least one image');
    this.cumulative.forEach((v, c) => (this.cumulative[c] = v / total));
  }

  /** Indices of `size` images drawn with replacement: a class, then an image of it. */
  sample(size: number, random: () => number): Int32Array {
    const out = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const u = random();
      let c = 0;
      while (c < this.cumulative.length - 1 && !(u < this.cumulative[c])) c++;
      while (this.byClass[c].length === 0) c--; // u in the rounding gap above the last class
      const list = this.byClass[c];
      out[i] = list[Math.floor(random() * list.length)];
    }
    return out;
  }
}
