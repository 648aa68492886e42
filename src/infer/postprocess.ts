// Model outputs -> what a caller wants: probabilities, the top-k labels, unit-length embeddings.
import type { Manifest } from '../artifact/manifest.js';

/** Numerically stable softmax (subtracts the max before exp). */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i] - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

export interface Prediction {
  label: string;
  score: number;
}

/** The k highest scores, best first; ties keep label order. k is clamped to the label count. */
export function topK(scores: ArrayLike<number>, labels: readonly string[], k: number): Prediction[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, idx.length))).map((i) => ({ label: labels[i] ?? String(i), score: scores[i] }));
}

/** x / ||x||_2; a zero vector stays zero (it has no direction to keep). */
export function l2Normalize(v: ArrayLike<number>): Float32Array {
  let sq = 0;
  for (let i = 0; i < v.length; i++) sq += v[i] * v[i];
  const out = Float32Array.from(v);
  if (sq === 0) return out;
  const inv = 1 / Math.sqrt(sq);
  for (let i = 0; i < out.length; i++) out[i] *= inv;
  return out;
}

/** A classifier's output row -> its k best {label, score}, scores as probabilities (softmax of logits). */
export function predictionsOf(manifest: Pick<Manifest, 'output' | 'labels'>, row: Float32Array, k: number): Prediction[] {
  const probs = manifest.output.kind === 'logits' ? softmax(row) : row;
  return topK(probs, manifest.labels ?? [], k);
}

/** An embedder's output rows -> unit-length vectors (unless the graph already normalizes). */
export function embeddingsOf(manifest: Pick<Manifest, 'output'>, rows: Float32Array[]): Float32Array[] {
  return manifest.output.normalized ? rows : rows.map((r) => l2Normalize(r));
}
