// Shared test helpers for the objectives: fixed pseudo-random arrays, float64 central differences,
// and closeness assertions with a message that names the worst entry.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../../src/seeded-random.js';
import type { Matrix } from './reference.js';

export function randomMatrix(rows: number, cols: number, seed: number, scale = 1): Matrix {
  const rand = mulberry32(seed);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => (rand() * 2 - 1) * scale));
}

export function randomVector(n: number, seed: number, scale = 1): number[] {
  return randomMatrix(1, n, seed, scale)[0];
}

export const t2 = (m: Matrix) => tf.tensor2d(m);
export const t1 = (v: number[]) => tf.tensor1d(v);

/** d f / d x for every entry of `x` (mutated in place and restored), by central differences. */
export function numericalGradient(f: () => number, x: Matrix | number[], h = 1e-6): number[] {
  const out: number[] = [];
  const rows: number[][] = Array.isArray(x[0]) ? (x as Matrix) : [x as number[]];
  for (const row of rows) {
    for (let j = 0; j < row.length; j++) {
      const keep = row[j];
      row[j] = keep + h;
      const up = f();
      row[j] = keep - h;
      const down = f();
      row[j] = keep;
      out.push((up - down) / (2 * h));
    }
  }
  return out;
}

/** |a - e| <= atol + rtol |e| everywhere. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-5, atol = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: entry ${worst} is ${actual[worst]}, expected ${expected[worst]} (tolerance ${atol} + ${rtol} * |expected|)`);
  }
}

/** The largest |a - b| over the entries. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export const flat = (m: Matrix | number[]) => (Array.isArray(m[0]) ? (m as Matrix).flat() : (m as number[]));

/**
 * tf gradients of `loss` with respect to each named input, as flat arrays; an input the loss does
 * not reach gets zeros.
 */
export function tfGradients(inputs: Record<string, tf.Tensor>, loss: (x: Record<string, tf.Tensor>) => tf.Scalar): { value: number; grads: Record<string, number[]> } {
  const variables = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, tf.variable(t)]));
  const { value, grads } = tf.variableGrads(() => loss(variables));
  const out = Object.fromEntries(
    Object.entries(variables).map(([n, v]) => [n, grads[v.name] ? Array.from(grads[v.name].dataSync()) : new Array<number>(v.size).fill(0)]),
  );
  const result = { value: value.dataSync()[0], grads: out };
  tf.dispose([value, ...Object.values(grads), ...Object.values(variables)]);
  return result;
}
