// Every export checks itself: the ONNX graph runs in onnxruntime-node on seeded random inputs and
// is compared with the trainer's own forward pass (net.apply(x, false) in tfjs, plus the same
// appended softmax / L2 normalization). relative = max|onnx - tfjs| / max|tfjs|; above the
// tolerance (default 1e-4) the export is refused with the report attached.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import type { Net } from '../train/nets/net.js';
import { uniformArray } from '../seeded-random.js';
import { ExportError } from './export-error.js';
import { DEFAULT_INPUT_NAME, DEFAULT_L2_EPSILON, DEFAULT_OUTPUT_NAME, type OutputAppend } from './lower.js';

export interface ParityReport {
  maxAbsDiff: number;
  /** maxAbsDiff / max |reference|. */
  relative: number;
  /** Number of random inputs compared. */
  samples: number;
  tolerance: number;
  /** The tfjs backend that computed the reference. */
  backend: string;
}

export interface ParityOptions {
  /** Random inputs, run as one batch (default 4). */
  samples?: number;
  /** Seed of the inputs, uniform in [-1, 1) (default 1). */
  seed?: number;
  /** Largest accepted relative difference (default 1e-4). */
  tolerance?: number;
  inputName?: string;
  outputName?: string;
  /** What the exported graph appends; the reference appends the same. */
  append?: OutputAppend;
  l2Epsilon?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
}

export const DEFAULT_PARITY_TOLERANCE = 1e-4;

/** Runs `model` and `net` on the same inputs; returns the report, or throws EXPORT_PARITY_FAILED. */
export async function checkParity(net: Net, model: Uint8Array, opts: ParityOptions = {}): Promise<ParityReport> {
  const samples = opts.samples ?? 4;
  const tolerance = opts.tolerance ?? DEFAULT_PARITY_TOLERANCE;
  const inputName = opts.inputName ?? DEFAULT_INPUT_NAME;
  const outputName = opts.outputName ?? DEFAULT_OUTPUT_NAME;
  const [h, w, c] = net.inputShape;
  const nhwc = uniformArray(samples * h * w * c, -1, 1, opts.seed ?? 1);

  const refTensor = tf.tidy(() => {
    const y = net.apply(tf.tensor4d(nhwc, [samples, h, w, c]), false);
    return appendTf(y, opts.append, opts.l2Epsilon ?? DEFAULT_L2_EPSILON);
  });
  const reference = (await refTensor.data()) as Float32Array;
  refTensor.dispose();

  const [actual] = await runOnnx(model, { [inputName]: { data: nhwcToNchw(nhwc, samples, h, w, c), dims: [samples, c, h, w] } }, [outputName], opts.threads);
  if (actual.length !== reference.length) {
    throw new ExportError('EXPORT_RUNTIME_FAILED', `the exported graph returned ${actual.length} values for ${samples} samples; the net returns ${reference.length}`);
  }
  const { maxAbsDiff, relative } = compareOutputs(reference, actual);
  const report: ParityReport = { maxAbsDiff, relative, samples, tolerance, backend: tf.getBackend() };
  if (!(relative <= tolerance)) {
    throw new ExportError(
      'EXPORT_PARITY_FAILED',
      `${net.name}: the exported ONNX graph disagrees with the trained net: max abs difference ${fmt(maxAbsDiff)}, ` +
        `relative ${fmt(relative)} > tolerance ${fmt(tolerance)} over ${samples} random inputs; the export is refused`,
      { report },
    );
  }
  return report;
}

/** The tfjs side of OutputAppend. */
export function appendTf(y: tf.Tensor2D, append: OutputAppend | undefined, l2Epsilon = DEFAULT_L2_EPSILON): tf.Tensor2D {
  if (append === 'softmax') return tf.softmax(y);
  if (append === 'l2norm') return tf.div(y, tf.maximum(tf.norm(y, 'euclidean', 1, true), l2Epsilon));
  return y;
}

/**
 * max |actual - reference| and that relative to max |reference| (NaN when a difference is not
 * finite; Infinity when the reference is all zeros and the actual output is not).
 */
export function compareOutputs(reference: ArrayLike<number>, actual: ArrayLike<number>): { maxAbsDiff: number; relative: number } {
  let maxAbsDiff = 0;
  let maxRef = 0;
  let finite = true;
  for (let i = 0; i < reference.length; i++) {
    const d = Math.abs(actual[i] - reference[i]);
    if (!Number.isFinite(d)) finite = false;
    else if (d > maxAbsDiff) maxAbsDiff = d;
    maxRef = Math.max(maxRef, Math.abs(reference[i]));
  }
  if (!finite) maxAbsDiff = NaN;
  const relative = maxRef > 0 ? maxAbsDiff / maxRef : maxAbsDiff === 0 ? 0 : Infinity;
  return { maxAbsDiff, relative };
}

/** Runs an ONNX model once in onnxruntime (CPU) and returns the named float32 outputs, in order. */
export async function runOnnx(
  model: Uint8Array,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  outputNames: string[],
  threads?: number,
): Promise<Float32Array[]> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    });
  } catch (cause) {
    throw new ExportError('EXPORT_RUNTIME_FAILED', `onnxruntime cannot load the exported graph: ${(cause as Error).message}`, { cause });
  }
  try {
    const tensors = Object.fromEntries(Object.entries(feeds).map(([name, f]) => [name, new ort.Tensor('float32', f.data, f.dims)]));
    const result = await session.run(tensors, outputNames);
    return outputNames.map((name) => {
      const out = result[name];
      if (!out) throw new ExportError('EXPORT_RUNTIME_FAILED', `no output named "${name}"`);
      return out.data as Float32Array;
    });
  } catch (cause) {
    if (cause instanceof ExportError) throw cause;
    throw new ExportError('EXPORT_RUNTIME_FAILED', `onnxruntime cannot run the exported graph: ${(cause as Error).message}`, { cause });
  } finally {
    await session.release();
  }
}

function nhwcToNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const src = ((b * h + y) * w + xx) * c;
        for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + xx] = x[src + ch];
      }
    }
  }
  return out;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toExponential(2) : String(v);
}
