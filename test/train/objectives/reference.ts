// An independent float64 reference of LOSSES.md's objectives, written from its text with plain
// arrays and loops (no tfjs), for the tests of src/train/objectives. Quantities that the
// objectives detach from the gradient are computed from `anchor` inputs here, so a central
// difference that moves only the live inputs measures the gradient the objective must produce.
export type Matrix = number[][];

export function softplus(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function hat(v: number[]): number[] {
  const n = Math.max(Math.sqrt(dot(v, v)), 1e-5);
  return v.map((x) => x / n);
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

// ---------------------------------------------------------------- BCE3S

/** Kept classes of the partial negatives, by LOSSES.md's description of the reference. */
export function keptClasses(labels: number[], C: number, r: number, perm: number[]): number[] {
  const k = Math.floor(r * C);
  const score = perm.slice();
  for (const y of labels) score[y] = 0;
  const idx = [...Array(C).keys()];
  idx.sort((a, b) => (score[a] !== score[b] ? score[a] - score[b] : a - b));
  return idx.slice(0, k).sort((a, b) => a - b);
}

/** mean_i sum_{c in cols} [ T softplus(-z) + N l softplus(z) ], z clamped to +-strict. */
export function bceRef(Z: Matrix, T: Matrix, N: Matrix, strict: number, l = 1, cols?: number[], rowW?: number[]): number {
  let total = 0;
  for (let i = 0; i < Z.length; i++) {
    let row = 0;
    for (const c of cols ?? [...Z[i].keys()]) {
      const z = clamp(Z[i][c], -strict, strict);
      row += T[i][c] * softplus(-z) + N[i][c] * l * softplus(z);
    }
    total += row * (rowW ? rowW[i] : 1);
  }
  return total / Z.length;
}

export function logitsRef(X: Matrix, W: Matrix, b: number[]): Matrix {
  const Wn = W.map(hat);
  return X.map((x) => Wn.map((w, c) => dot(w, x) + b[c]));
}

export interface ProjectorRef {
  w1: Matrix; // [d][d] in x out
  b1: number[];
  w2: Matrix; // [d][p]
  b2: number[];
}

export function projectRef(x: number[], g: ProjectorRef): number[] {
  const h = g.b1.map((b, j) => Math.max(0, b + x.reduce((s, xi, i) => s + xi * g.w1[i][j], 0)));
  return g.b2.map((b, j) => b + h.reduce((s, hi, i) => s + hi * g.w2[i][j], 0));
}

export interface Bce3sRefInput {
  orig: Matrix;
  mix: Matrix;
  cut: Matrix;
  labels: number[];
  T: Matrix;
  W: Matrix;
  b: number[];
  g: ProjectorRef;
  M: Matrix;
  epoch: number;
  perm: number[];
  r?: number;
}

export function bce3sRef(p: Bce3sRefInput) {
  const C = p.W.length;
  const strict = 64;
  const N = p.T.map((row) => row.map((t) => (t === 0 ? 1 : 0)));
  const Y = p.labels.map((y) => [...Array(C).keys()].map((c) => (c === y ? 1 : 0)));
  const notY = Y.map((row) => row.map((v) => 1 - v));
  const cols = keptClasses(p.labels, C, p.r ?? 0.4, p.perm);
  const scOriginal = bceRef(logitsRef(p.orig, p.W, p.b), Y, notY, strict, 1, cols);
  const scMixup = bceRef(logitsRef(p.mix, p.W, p.b), p.T, N, strict);
  const scCutmix = bceRef(logitsRef(p.cut, p.W, p.b), p.T, N, strict);
  const sc = (scOriginal + scMixup + scCutmix) / 3;
  const Mn = p.M.map(hat);
  const sim = (X: Matrix) => X.map((x) => {
    const gx = hat(projectRef(x, p.g));
    return Mn.map((m) => dot(gx, m) / 1);
  });
  const ss = p.epoch === 1 ? 0 : bceRef(sim(p.mix), p.T, N, strict) + bceRef(sim(p.cut), p.T, N, strict);
  const Wn = p.W.map(hat);
  let cc = 0;
  for (let c = 0; c < C; c++) for (let j = 0; j < C; j++) {
    const K = dot(Wn[c], Wn[j]);
    cc += j === c ? softplus(-K) : softplus(K);
  }
  cc /= C;
  // Memory: the reference's loop, in batch order.
  const memory = p.M.map((row) => row.slice());
  p.orig.forEach((x, i) => {
    memory[p.labels[i]] = projectRef(x, p.g);
  });
  return { loss: sc + 0.1 * ss + 1.0 * cc, scOriginal, scMixup, scCutmix, sc, ss, cc, memory };
}

export function classBalancedBceRef(X: Matrix, labels: number[], W: Matrix, b: number[], counts: number[], beta: number, perm: number[], r: number): number {
  const C = W.length;
  const raw = counts.map((n) => (1 - beta) / (1 - Math.pow(beta, n)));
  const sum = raw.reduce((a, v) => a + v, 0);
  const w = raw.map((v) => (v * C) / sum);
  const Z = logitsRef(X, W, b);
  const cols = keptClasses(labels, C, r, perm);
  let total = 0;
  labels.forEach((y, i) => {
    for (const c of cols) total += w[y] * (c === y ? softplus(-Z[i][c]) : softplus(Z[i][c]));
  });
  return total / labels.length;
}

// ---------------------------------------------------------------- baselines

export function crossEntropyRef(Z: Matrix, labels: number[], counts?: number[]): number {
  const total = counts ? counts.reduce((a, v) => a + v, 0) : 1;
  let loss = 0;
  Z.forEach((z0, i) => {
    const z = counts ? z0.map((v, c) => v + Math.log(counts[c] / total)) : z0;
    const max = Math.max(...z);
    loss += max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0)) - z[labels[i]];
  });
  return loss / Z.length;
}

// ---------------------------------------------------------------- EPL

export type Head = 'cosface' | 'arcface' | 'uniface';

export interface EplRefOptions {
  head: Head;
  s: number;
  m: number;
  k: number;
  epoch: number;
  /** false: the head without EPL (block 1 only, no Q). */
  epl: boolean;
}

/** Q after the update: all rows from Q as it was, then written in batch order (last wins). */
export function empiricalUpdateRef(Q: Matrix, E: Matrix, labels: number[]): Matrix {
  const rows = E.map((e, i) => {
    const q = Q[labels[i]];
    const s = dot(q, e);
    const f = s / (1 + Math.abs(s));
    return hat(q.map((qv, j) => f * qv + (1 - f) * e[j]));
  });
  const out = Q.map((row) => row.slice());
  rows.forEach((row, i) => {
    out[labels[i]] = row;
  });
  return out;
}

/** log(1 + sum_N e^z * sum_P e^-z) for one row with one positive y, evaluated directly in float64. */
function criterionRow(z: number[], y: number): number {
  let neg = 0;
  z.forEach((v, j) => {
    if (j !== y) neg += Math.exp(v);
  });
  return Math.log(1 + neg * Math.exp(-z[y]));
}

/**
 * EPL loss and the updated Q. live = {X, W, b}: the inputs the gradient is taken for;
 * anchor = {X, W}: the same values, from which the detached quantities are computed.
 */
export function eplRef(
  live: { X: Matrix; W: Matrix; b: number },
  anchor: { X: Matrix; W: Matrix },
  Q: Matrix,
  labels: number[],
  o: EplRefOptions,
): { loss: number; Q: Matrix } {
  const E = live.X.map(hat);
  const E0 = anchor.X.map(hat);
  const Wn = live.W.map(hat);
  const Wn0 = anchor.W.map(hat);
  const lim = 1 - 1e-7;
  const clampCos = (c: number) => (o.head === 'arcface' ? clamp(c, -lim, lim) : c);
  const Qnew = o.epl ? empiricalUpdateRef(Q, E0, labels) : Q;
  // rows: [cosines (live), cosines (anchor, for the detached parts)]
  const rows: { c: number[]; c0: number[]; y: number }[] = E.map((e, i) => ({
    c: Wn.map((w) => clampCos(dot(w, e))),
    c0: Wn0.map((w) => clampCos(dot(w, E0[i]))),
    y: labels[i],
  }));
  if (o.epl && o.epoch >= 4) {
    const Qn = Qnew.map(hat);
    E.forEach((e, i) => {
      const y = labels[i];
      const v = Qn.map((q) => dot(q, e));
      const v0 = Qn.map((q) => dot(q, E0[i]));
      const c = v.map((val, j) => (j === y ? val - o.k * v0[j] : val));
      const c0 = v0.map((val, j) => (j === y ? val - o.k * v0[j] : val));
      rows.push({ c, c0, y });
    });
  }
  let loss = 0;
  for (const { c, c0, y } of rows) {
    if (o.head === 'cosface') {
      loss += criterionRow(c.map((v, j) => o.s * (j === y ? v - o.m : v)), y);
    } else if (o.head === 'arcface') {
      const a = c0[y];
      const target = a * Math.cos(o.m) - Math.sqrt(clamp(1 - a * a, 0, 1)) * Math.sin(o.m);
      loss += criterionRow(c.map((v, j) => o.s * (j === y ? v + (target - a) : v)), y);
    } else {
      c.forEach((v, j) => {
        loss += j === y
          ? softplus(-clamp(o.s * (v - o.m) - live.b, -o.s, o.s))
          : softplus(clamp(o.s * v - live.b, -o.s, o.s));
      });
    }
  }
  return { loss: loss / rows.length, Q: Qnew };
}
