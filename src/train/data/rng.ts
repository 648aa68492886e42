// Seeded pseudo-random numbers (mulberry32): training order is reproducible, and a resumed run
// sees the same permutation for the epoch it resumes in.

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
