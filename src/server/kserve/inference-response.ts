// The protocol's $inference_response for one request: each requested output over the batch,
// as JSON data (row-major, flat) or, where asked, as binary data after the JSON header (Triton's
// binary tensor data extension: `parameters.binary_data_size`, little-endian FP32; BYTES
// elements as a 4-byte little-endian length and the bytes). The classification extension
// answers the k best elements of each item as BYTES "value:index[:label]", as Triton writes them.
import type { Manifest } from '../../artifact/manifest.js';
import { INFERENCE_FAILED } from '../error-codes.js';
import type { InferenceRequest, RequestedOutput } from './inference-request.js';

export interface ResponseOutput {
  name: string;
  datatype: 'FP32' | 'BYTES';
  shape: number[];
  parameters?: { binary_data_size: number };
  data?: number[] | string[];
}

export interface InferenceResponse {
  /** The JSON object (the whole body, or the header of a binary body). */
  header: { model_name: string; model_version: string; id?: string; outputs: ResponseOutput[] };
  /** Binary data after the header, in output order; empty when every output is JSON. */
  binary: Buffer[];
}

export function inferenceResponse(manifest: Manifest, request: InferenceRequest, rows: readonly Float32Array[]): InferenceResponse {
  const binary: Buffer[] = [];
  const outputs = request.outputs.map((wanted): ResponseOutput => {
    const { datatype, shape, elements } = wanted.classification ? classification(manifest, rows, wanted.classification) : tensor(manifest, rows);
    if (wanted.binary) {
      const bytes = datatype === 'FP32' ? fp32Bytes(elements as Float32Array) : bytesElements(elements as string[]);
      binary.push(bytes);
      return { name: wanted.name, datatype, shape, parameters: { binary_data_size: bytes.length } };
    }
    return { name: wanted.name, datatype, shape, data: datatype === 'FP32' ? jsonNumbers(elements as Float32Array, wanted) : (elements as string[]) };
  });
  return {
    header: { model_name: manifest.name, model_version: manifest.version, ...(request.id !== undefined ? { id: request.id } : {}), outputs },
    binary,
  };
}

function tensor(manifest: Manifest, rows: readonly Float32Array[]) {
  const d = manifest.output.dimension;
  const elements = new Float32Array(rows.length * d);
  rows.forEach((row, i) => elements.set(row, i * d));
  return { datatype: 'FP32' as const, shape: [rows.length, d], elements };
}

/** Triton's classification extension: per item, the k largest elements, best first. */
function classification(manifest: Manifest, rows: readonly Float32Array[], k: number) {
  const labels = manifest.labels;
  const elements = rows.flatMap((row) =>
    Array.from(row.keys())
      .sort((a, b) => row[b] - row[a] || a - b)
      .slice(0, k)
      .map((j) => `${row[j].toFixed(6)}:${j}${labels ? `:${labels[j]}` : ''}`),
  );
  return { datatype: 'BYTES' as const, shape: [rows.length, k], elements };
}

/** JSON cannot carry NaN or Infinity: such an output can only travel as binary data. */
function jsonNumbers(elements: Float32Array, wanted: RequestedOutput): number[] {
  const bad = elements.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new INFERENCE_FAILED(`output "${wanted.name}" element ${bad} is ${elements[bad]}, which JSON cannot carry; ask for it as binary data (parameters.binary_data: true)`);
  return Array.from(elements);
}

function fp32Bytes(elements: Float32Array): Buffer {
  const out = Buffer.alloc(elements.length * 4);
  elements.forEach((v, i) => out.writeFloatLE(v, i * 4));
  return out;
}

function bytesElements(elements: string[]): Buffer {
  return Buffer.concat(
    elements.flatMap((s) => {
      const bytes = Buffer.from(s, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );
}
