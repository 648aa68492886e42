// The protocol's $inference_request, checked against the model's signature before anything
// reaches onnxruntime: the names of inputs and requested outputs, the datatype, the shape (rank,
// fixed dimensions, a batch the model's queue can hold), the element count, and every element
// (a finite number within FP32's range). Tensor data is JSON (row-major, flat or nested as the
// shape) or, with Triton's binary tensor data extension, little-endian bytes after the JSON
// header (`parameters.binary_data_size`). Outputs may ask for Triton's classification extension
// (`parameters.classification: k`) and for binary data (`binary_data`, or the request's
// `binary_data_output`).
import { INFERENCE_REQUEST_INVALID } from '../error-codes.js';
import { KSERVE_DATATYPES, type ModelSignature, type TensorMetadata } from './tensor-signature.js';

/** Largest finite float32: larger JSON numbers would become Infinity. */
const FP32_MAX = 3.4028234663852886e38;

export interface RequestedOutput {
  name: string;
  /** Triton's classification extension: the k best elements per item as "value:index[:label]" (BYTES). */
  classification?: number;
  /** Triton's binary tensor data extension: the data as raw bytes after the JSON header. */
  binary: boolean;
}

export interface InferenceRequest {
  id?: string;
  /** Items in the batch (the first dimension). */
  n: number;
  /** The n items back to back, in the model's input layout. */
  data: Float32Array;
  outputs: RequestedOutput[];
}

export interface RequestContextOfModel {
  model: string;
  signature: ModelSignature;
  /** Most items one request may hold (the model's queue: scheduler.max_queue). */
  maxBatch: number;
}

function invalid(message: string): Error {
  return new INFERENCE_REQUEST_INVALID(message);
}

const describe = (t: TensorMetadata) => `"${t.name}" (${t.datatype} [${t.shape.join(', ')}])`;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** $parameters: an object of string, number or boolean values. */
function parametersOf(v: unknown, where: string): Record<string, string | number | boolean> {
  if (v === undefined) return {};
  if (!isObject(v)) throw invalid(`${where}parameters must be an object of string, number or boolean values`);
  for (const [key, value] of Object.entries(v)) {
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw invalid(`${where}parameters.${key} must be a string, number or boolean, got ${JSON.stringify(value)}`);
  }
  return v as Record<string, string | number | boolean>;
}

function booleanParameter(params: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const v = params[key];
  if (v !== undefined && typeof v !== 'boolean') throw invalid(`${where}parameters.${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Checks `body` (the JSON object) and the binary data after it against the model; answers the
 * input as one Float32Array of n items. Throws INFERENCE_REQUEST_INVALID saying what is wrong.
 */
export function parseInferenceRequest(body: unknown, binary: Uint8Array | undefined, context: RequestContextOfModel): InferenceRequest {
  const { model, signature } = context;
  if (!isObject(body)) throw invalid('the body must be a JSON object {"inputs": [...], "outputs"?: [...], "id"?, "parameters"?}');
  if (body.id !== undefined && typeof body.id !== 'string') throw invalid(`"id" must be a string, got ${JSON.stringify(body.id)}`);
  const parameters = parametersOf(body.parameters, '');
  const binaryOutput = booleanParameter(parameters, 'binary_data_output', '') ?? false;

  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw invalid(`"inputs" must be a non-empty array; model "${model}" takes ${describe(signature.input)}`);
  if (inputs.length > 1) {
    const names = inputs.map((i) => (isObject(i) ? JSON.stringify(i.name) : '?')).join(', ');
    throw invalid(`model "${model}" takes one input, ${describe(signature.input)}; got ${inputs.length} (${names})`);
  }
  const binaryData = { bytes: binary ?? new Uint8Array(0), offset: 0 };
  const { n, data } = readInput(inputs[0], binaryData, context);
  if (binaryData.offset !== binaryData.bytes.length) {
    throw invalid(`${binaryData.bytes.length - binaryData.offset} bytes of binary data after the JSON header are not claimed by any input's parameters.binary_data_size`);
  }
  return { ...(body.id !== undefined ? { id: body.id as string } : {}), n, data, outputs: requestedOutputs(body.outputs, binaryOutput, context) };
}

function readInput(input: unknown, binary: { bytes: Uint8Array; offset: number }, context: RequestContextOfModel): { n: number; data: Float32Array } {
  const { model, signature, maxBatch } = context;
  const want = signature.input;
  if (!isObject(input)) throw invalid('each input must be an object {name, shape, datatype, data}');
  if (typeof input.name !== 'string') throw invalid('input "name" must be a string');
  const where = `input "${input.name}": `;
  if (input.name !== want.name) throw invalid(`"${input.name}" is not an input of model "${model}"; it takes ${describe(want)}`);
  if (typeof input.datatype !== 'string') throw invalid(`${where}"datatype" must be a string (${want.datatype})`);
  if (!(KSERVE_DATATYPES as readonly string[]).includes(input.datatype)) throw invalid(`${where}unknown datatype ${JSON.stringify(input.datatype)}; the protocol's are ${KSERVE_DATATYPES.join(', ')}`);
  if (input.datatype !== want.datatype) throw invalid(`${where}datatype ${input.datatype} does not match the model's ${want.datatype}`);

  const shape = input.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalid(`${where}"shape" must be an array of non-negative integers, got ${JSON.stringify(shape)?.slice(0, 80)}`);
  }
  if (shape.length !== want.shape.length) throw invalid(`${where}shape [${shape.join(', ')}] has rank ${shape.length}; the model takes [${want.shape.join(', ')}] (-1: any batch size)`);
  want.shape.forEach((d, i) => {
    if (d !== -1 && shape[i] !== d) throw invalid(`${where}shape [${shape.join(', ')}] differs from the model's [${want.shape.join(', ')}] in dimension ${i}`);
  });
  const n = shape[0] as number;
  if (n < 1) throw invalid(`${where}the batch dimension is 0; send at least one item`);
  if (n > maxBatch) throw invalid(`${where}a batch of ${n} is over the model's queue of ${maxBatch} items (scheduler.max_queue); send smaller batches`);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);

  const params = parametersOf(input.parameters, where);
  const size = params.binary_data_size;
  if (size !== undefined) {
    if (input.data !== undefined) throw invalid(`${where}has both "data" and parameters.binary_data_size; send one`);
    return { n, data: binaryElements(size, count, binary, where) };
  }
  if (!Array.isArray(input.data)) throw invalid(`${where}"data" must be an array of ${count} numbers in row-major order (flat, or nested as the shape)`);
  return { n, data: jsonElements(input.data, count, shape.length, where) };
}

/** Flattens row-major JSON data (flat or nested up to the tensor's rank) into float32, checking every element. */
function jsonElements(data: unknown[], count: number, rank: number, where: string): Float32Array {
  const out = new Float32Array(count);
  let i = 0;
  const visit = (values: unknown[], depth: number): void => {
    for (const v of values) {
      if (Array.isArray(v)) {
        if (depth + 1 >= rank) throw invalid(`${where}"data" is nested deeper than the tensor's ${rank} dimensions`);
        visit(v, depth + 1);
        continue;
      }
      if (i >= count) throw invalid(`${where}"data" has more than the ${count} elements its shape holds`);
      if (typeof v !== 'number') throw invalid(`${where}element ${i} is ${JSON.stringify(v)}; FP32 elements are JSON numbers`);
      if (!(Math.abs(v) <= FP32_MAX)) throw invalid(`${where}element ${i} (${v}) is outside the range of FP32`);
      out[i++] = v;
    }
  };
  visit(data, 0);
  if (i !== count) throw invalid(`${where}"data" has ${i} elements; its shape holds ${count}`);
  return out;
}

/** Little-endian float32 elements from the binary data after the JSON header. */
function binaryElements(size: unknown, count: number, binary: { bytes: Uint8Array; offset: number }, where: string): Float32Array {
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw invalid(`${where}parameters.binary_data_size must be a byte count, got ${JSON.stringify(size)}`);
  const bytes = size as number;
  if (bytes !== count * 4) throw invalid(`${where}parameters.binary_data_size is ${bytes} bytes; ${count} FP32 elements take ${count * 4}`);
  const left = binary.bytes.length - binary.offset;
  if (bytes > left) throw invalid(`${where}parameters.binary_data_size is ${bytes} bytes, but only ${left} bytes of binary data follow the JSON header`);
  const view = new DataView(binary.bytes.buffer, binary.bytes.byteOffset + binary.offset, bytes);
  binary.offset += bytes;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const v = view.getFloat32(i * 4, true);
    if (!Number.isFinite(v)) throw invalid(`${where}element ${i} is ${v}; FP32 elements must be finite`);
    out[i] = v;
  }
  return out;
}

function requestedOutputs(outputs: unknown, binaryOutput: boolean, context: RequestContextOfModel): RequestedOutput[] {
  const { model, signature } = context;
  const want = signature.output;
  if (outputs === undefined) return [{ name: want.name, binary: binaryOutput }];
  if (!Array.isArray(outputs)) throw invalid('"outputs" must be an array of {name, parameters?}');
  const seen = new Set<string>();
  return outputs.map((o) => {
    if (!isObject(o) || typeof o.name !== 'string') throw invalid('each requested output must be an object with a string "name"');
    if (o.name !== want.name) throw invalid(`"${o.name}" is not an output of model "${model}"; it answers ${describe(want)}`);
    if (seen.has(o.name)) throw invalid(`output "${o.name}" is requested twice`);
    seen.add(o.name);
    const where = `output "${o.name}": `;
    const params = parametersOf(o.parameters, where);
    const binary = booleanParameter(params, 'binary_data', where) ?? binaryOutput;
    const k = params.classification;
    if (k === undefined) return { name: o.name, binary };
    if (!Number.isSafeInteger(k) || (k as number) < 1) throw invalid(`${where}parameters.classification must be a positive integer (the number of classes), got ${JSON.stringify(k)}`);
    return { name: o.name, binary, classification: Math.min(k as number, want.shape[1]) };
  });
}
