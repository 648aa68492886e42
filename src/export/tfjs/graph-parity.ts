// The importer checks itself as export does: the ONNX graph runs in onnxruntime and TensorFlow.js
// runs the original graph model (tf.loadGraphModel over the same bytes) on the same inputs:
// seeded random ones in [-1, 1), plus any real inputs the caller adds (e.g. face crops). For each
// output, relative = max|onnx - tfjs| / max|tfjs|; above the tolerance (default 1e-4) the import
// is refused with the report attached.
import * as tf from '@tensorflow/tfjs';

import { uniformArray } from '../../seeded-random.js';
import { ExportError } from '../export-error.js';
import { compareOutputs, DEFAULT_PARITY_TOLERANCE, runOnnx, type ParityReport } from '../parity.js';
import type { LoweredGraph } from './lower-graph-model.js';
import type { TfGraphModel } from './read-graph-model.js';

export interface GraphParityOptions {
  /** Random inputs (default 4). */
  samples?: number;
  seed?: number;
  tolerance?: number;
  /** Real inputs for the (single) graph input, each one item in TensorFlow's shape. */
  inputs?: Float32Array[];
}

export interface GraphParityReport extends ParityReport {
  /** Per output: the same figures. */
  outputs: { name: string; maxAbsDiff: number; relative: number }[];
}

export async function checkGraphParity(model: TfGraphModel, lowered: LoweredGraph, opts: GraphParityOptions = {}): Promise<GraphParityReport> {
  if (lowered.inputs.length !== 1) throw new ExportError('EXPORT_UNSUPPORTED', `${model.path}: parity is checked for graphs with one input; this one has ${lowered.inputs.length}`);
  const tolerance = opts.tolerance ?? DEFAULT_PARITY_TOLERANCE;
  const input = lowered.inputs[0];
  const itemShape = [1, ...input.shape.slice(1)];
  const itemSize = itemShape.reduce((a, b) => a * b, 1);
  const random = Array.from({ length: opts.samples ?? 4 }, (_, i) => uniformArray(itemSize, -1, 1, (opts.seed ?? 1) + i));
  const items = [...random, ...(opts.inputs ?? [])];
  for (const item of items) {
    if (item.length !== itemSize) throw new ExportError('EXPORT_RUNTIME_FAILED', `a parity input has ${item.length} values; input "${input.name}" takes ${itemSize} per item [${itemShape.join(', ')}]`);
  }
  // The TensorFlow outputs only (not what an `extend` step appended).
  const names = model.outputs;
  const graphModel = await tf.loadGraphModel(tf.io.fromMemory(model.artifacts));
  const worst = names.map((name) => ({ name, maxAbsDiff: 0, relative: 0 }));
  try {
    for (const item of items) {
      const x = tf.tensor(item, itemShape);
      const ys = graphModel.execute({ [input.name]: x }, names);
      x.dispose();
      const refs = await Promise.all((Array.isArray(ys) ? ys : [ys]).map(async (t) => {
        const data = (await t.data()) as Float32Array;
        t.dispose();
        return data;
      }));
      const actual = await runOnnx(lowered.bytes, { [input.name]: { data: item, dims: itemShape } }, names);
      names.forEach((name, i) => {
        if (actual[i].length !== refs[i].length) {
          throw new ExportError('EXPORT_RUNTIME_FAILED', `${model.path}: output "${name}" has ${actual[i].length} values in onnxruntime and ${refs[i].length} in TensorFlow.js`);
        }
        const c = compareOutputs(refs[i], actual[i]);
        if (!(c.relative <= worst[i].relative)) worst[i] = { name, ...c };
      });
    }
  } finally {
    graphModel.dispose();
  }
  const top = worst.reduce((a, b) => (!(b.relative <= a.relative) ? b : a));
  const report: GraphParityReport = { maxAbsDiff: top.maxAbsDiff, relative: top.relative, samples: items.length, tolerance, backend: tf.getBackend(), outputs: worst };
  if (!(top.relative <= tolerance)) {
    throw new ExportError(
      'EXPORT_PARITY_FAILED',
      `${model.path}: the ONNX graph disagrees with TensorFlow.js on output "${top.name}": max abs difference ${top.maxAbsDiff.toExponential(2)}, ` +
        `relative ${top.relative.toExponential(2)} > tolerance ${tolerance.toExponential(2)} over ${items.length} inputs; the import is refused`,
      { report },
    );
  }
  return report;
}
