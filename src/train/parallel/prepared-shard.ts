// Splitting a prepared step (../objectives/objective.ts: PreparedStep) into shards of samples,
// for gradient accumulation (micro-batches one after another) and data-parallel workers (one
// shard per replica). Every view of a sample goes with the sample; batch-wide values (`shared`)
// go to every shard whole.
import type { PreparedStep } from '../objectives/objective.js';

/** [start, end) of each of `parts` shards of `size` samples, as even as possible, none empty. */
export function shardBounds(size: number, parts: number): Array<[number, number]> {
  const n = Math.min(parts, size);
  return Array.from({ length: n }, (_, k) => [Math.floor((k * size) / n), Math.floor(((k + 1) * size) / n)]);
}

/** Samples [start, end) of `step`, every view of them, in the order of `step`. */
export function shardOf(step: PreparedStep, start: number, end: number): PreparedStep {
  const { size, views } = step;
  const perImage = step.inputs.length / (views * size);
  const rows = end - start;
  const inputs = new Float32Array(views * rows * perImage);
  for (let v = 0; v < views; v++) {
    inputs.set(step.inputs.subarray((v * size + start) * perImage, (v * size + end) * perImage), v * rows * perImage);
  }
  return {
    inputs,
    views,
    size: rows,
    labels: step.labels.slice(start, end),
    rows: Object.fromEntries(Object.entries(step.rows).map(([k, r]) => [k, { width: r.width, values: r.values.slice(start * r.width, end * r.width) }])),
    shared: step.shared,
  };
}
