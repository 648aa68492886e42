// Seeded training order: training order is reproducible, and a resumed run
// sees the same permutation for the epoch it resumes in.
import { mulberry32 } from '../../seeded-random.js';

/** The permutation of [0, n) used in `epoch` of a run seeded with `seed`. */
export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  const rand = mulberry32((seed * 1000003 + epoch * 7919) >>> 0);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
