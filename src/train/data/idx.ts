// Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header
// (magic 0x00000801 labels / 0x00000803 images, then the dimension sizes) followed by uint8 data.
// Gzipped files (Debian's dataset-fashion-mnist ships *.gz) are inflated transparently.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { TrainError } from '../train-error.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

export function readIdx(path: string): IdxArray {
  let bytes = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  return parseIdx(bytes, path);
}

export function parseIdx(bytes: Uint8Array, source = 'buffer'): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new TrainError('TRAINING_DATA_INVALID', `${source}: not an IDX file (bad magic number)`);
  }
  if (bytes[2] !== UBYTE) throw new TrainError('TRAINING_DATA_INVALID', `${source}: IDX element type 0x${bytes[2].toString(16)} is not uint8`);
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const offset = 4 + 4 * rank;
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== offset + count) {
    throw new TrainError('TRAINING_DATA_INVALID', `${source}: IDX header says ${count} values, file holds ${bytes.length - offset}`);
  }
  return { dims, data: bytes.subarray(offset, offset + count) };
}
