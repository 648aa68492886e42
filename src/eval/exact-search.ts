// Exact (brute-force) similarity search in blocks: dot products of a query matrix against a
// block of database rows, computed by onnxruntime (one Gemm node, MLAS on CPU), so a million
// distractors are scored in seconds without ever holding a queries x database matrix.
// Used by MegaFace until the gallery's index is available to the evaluator.
import ort from 'onnxruntime-node';

import { OnnxGraphBuilder } from '../onnx/onnx-builder.js';

export class BlockScorer {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(options: { threads?: number } = {}): Promise<BlockScorer> {
    const g = new OnnxGraphBuilder('block_scores');
    g.addInput('queries', ['nq', 'dim']);
    g.addInput('rows', ['nx', 'dim']);
    g.addNode({ op: 'Gemm', inputs: ['queries', 'rows'], outputs: ['scores'], attributes: { transB: 1 } });
    g.addOutput('scores', ['nq', 'nx']);
    const session = await ort.InferenceSession.create(g.toBytes(), {
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    });
    return new BlockScorer(session);
  }

  /** queries (nq x dim) . rows (nx x dim)^T, row-major nq x nx, float32. */
  async dot(queries: Float32Array, nq: number, rows: Float32Array, nx: number, dim: number): Promise<Float32Array> {
    const out = await this.session.run({
      queries: new ort.Tensor('float32', queries, [nq, dim]),
      rows: new ort.Tensor('float32', rows, [nx, dim]),
    });
    return out.scores.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Squared L2 norm of each row (float64 accumulation). */
export function rowNorms2(data: Float32Array, n: number, dim: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += data[i * dim + k] * data[i * dim + k];
    out[i] = s;
  }
  return out;
}
