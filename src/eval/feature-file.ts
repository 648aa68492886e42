// Feature files in the MegaFace devkit's OpenCV-matrix layout, used for every benchmark:
// four little-endian int32 (rows, cols, stride = bytes per row, type: 5 = CV_32F, 6 = CV_64F),
// then rows * stride bytes. InsightFace writes (512, 1, 4, 5) + 512 float32
// (recognition/_evaluation_/megaface/remove_noises.py, write_bin).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { hasCode, messageOf } from '../errors.js';
import { EvalError } from './eval-error.js';

export const CV_32F = 5;
export const CV_64F = 6;
export const DEFAULT_FEATURE_SUFFIX = '_protoserve.bin';
const HEADER_BYTES = 16;

/** The file holding the feature of `relativeImagePath` (relative to the dataset root). */
export function featurePath(featureRoot: string, relativeImagePath: string, suffix = DEFAULT_FEATURE_SUFFIX): string {
  return join(featureRoot, relativeImagePath + suffix);
}

/**
 * Decodes one matrix; returns its rows * cols values in row-major order, as float32 or float64
 * according to the file's type (a (512, 1) column and a (1, 512) row both give 512 values).
 */
export function decodeFeature(bytes: Uint8Array, where = 'feature file'): Float32Array | Float64Array {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new EvalError('FEATURE_FILE_INVALID', `${where}: ${bytes.byteLength} bytes, shorter than the 16-byte header (rows, cols, stride, type)`, {
      details: { problem: 'no header', bytes: bytes.byteLength, needed: HEADER_BYTES },
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rows = view.getInt32(0, true);
  const cols = view.getInt32(4, true);
  const stride = view.getInt32(8, true);
  const type = view.getInt32(12, true);
  if (type !== CV_32F && type !== CV_64F) {
    throw new EvalError('FEATURE_FILE_INVALID', `${where}: matrix type ${type}, expected ${CV_32F} (float32) or ${CV_64F} (float64)`, { details: { problem: 'matrix type', type } });
  }
  const elem = type === CV_32F ? 4 : 8;
  if (rows < 1 || cols < 1 || stride < cols * elem) {
    throw new EvalError('FEATURE_FILE_INVALID', `${where}: header rows=${rows} cols=${cols} stride=${stride} type=${type} is not a matrix (stride must be >= cols * ${elem})`, {
      details: { problem: 'matrix shape', rows, cols, stride },
    });
  }
  const need = HEADER_BYTES + rows * stride;
  if (bytes.byteLength < need) {
    throw new EvalError('FEATURE_FILE_INVALID', `${where}: truncated, ${bytes.byteLength} bytes for a ${rows}x${cols} matrix needing ${need}`, {
      details: { problem: 'truncated', bytes: bytes.byteLength, needed: need },
    });
  }
  const out = type === CV_32F ? new Float32Array(rows * cols) : new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = HEADER_BYTES + r * stride;
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = type === CV_32F ? view.getFloat32(base + c * 4, true) : view.getFloat64(base + c * 8, true);
    }
  }
  return out;
}

/** Encodes a vector as a (d, 1) column, the devkit's shape, in its own precision. */
export function encodeFeature(vector: Float32Array | Float64Array): Uint8Array {
  const type = vector instanceof Float32Array ? CV_32F : CV_64F;
  const elem = type === CV_32F ? 4 : 8;
  const bytes = new Uint8Array(HEADER_BYTES + vector.length * elem);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, vector.length, true);
  view.setInt32(4, 1, true);
  view.setInt32(8, elem, true);
  view.setInt32(12, type, true);
  for (let i = 0; i < vector.length; i++) {
    if (type === CV_32F) view.setFloat32(HEADER_BYTES + i * 4, vector[i], true);
    else view.setFloat64(HEADER_BYTES + i * 8, vector[i], true);
  }
  return bytes;
}

export async function readFeature(path: string): Promise<Float32Array | Float64Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (hasCode(err) && err.code === 'ENOENT') {
      throw new EvalError('FEATURE_FILE_MISSING', `Feature file ${path} not found (features are looked up at <features>/<image path relative to the dataset root><suffix>)`, { cause: err });
    }
    throw new EvalError('FEATURE_FILE_INVALID', `Cannot read ${path}: ${messageOf(err)}`, { cause: err });
  }
  return decodeFeature(bytes, path);
}

let tempCounter = 0;

/**
 * Writes a feature file, creating its folder: a temporary file renamed over the target, so a
 * reader never sees half a file. No fsync: hundreds of thousands of these are written per run,
 * and a file lost in a crash is simply computed again.
 */
export async function writeFeature(path: string, vector: Float32Array | Float64Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${tempCounter++}.tmp`);
  await writeFile(temp, encodeFeature(vector));
  await rename(temp, path);
}
