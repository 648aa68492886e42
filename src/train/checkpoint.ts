// Training checkpoints: one file holding the run state, the network's weights (batch-norm
// statistics included), the objective's parameters and buffers, and the optimizer's slots, so a
// resumed run continues exactly.
// Layout: "PSCK", uint32 version, uint32 header length, JSON header, padding to 4 bytes,
// float32 little-endian tensor data. Written to a temporary file, fsynced, then renamed, so a
// kill at any moment leaves either the old checkpoint or the new one, never a torn file.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { NamedWeights } from './nets/net.js';
import { TrainError } from './train-error.js';

const MAGIC = 'PSCK';
const VERSION = 1;

export interface Checkpoint<S> {
  state: S;
  /** The backbone's. */
  weights: NamedWeights;
  /** The objective's heads and buffers (src/train/objectives). */
  objective: NamedWeights;
  optimizer: NamedWeights;
}

const GROUPS = ['weights', 'objective', 'optimizer'] as const;

interface Entry {
  group: (typeof GROUPS)[number];
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export function writeCheckpoint<S>(path: string, checkpoint: Checkpoint<S>): void {
  const entries: Entry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const group of GROUPS) {
    for (const [name, { shape, values }] of Object.entries(checkpoint[group])) {
      entries.push({ group, name, shape, offset, length: values.length });
      chunks.push(values);
      offset += values.length;
    }
  }
  const header = Buffer.from(JSON.stringify({ state: checkpoint.state, entries }), 'utf8');
  const pad = (4 - ((12 + header.length) % 4)) % 4;
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(VERSION, 4);
  prefix.writeUInt32LE(header.length, 8);

  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    try {
      writeAll(fd, prefix);
      writeAll(fd, header);
      writeAll(fd, Buffer.alloc(pad));
      for (const c of chunks) writeAll(fd, new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** writeSync may write less than asked (a full disk, a signal): loop until all is written. */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
}

export function readCheckpoint<S>(path: string): Checkpoint<S> {
  const bytes = readFileSync(path);
  if (bytes.length < 12 || bytes.toString('ascii', 0, 4) !== MAGIC) throw new TrainError('CHECKPOINT_INVALID', `${path}: not a protoserve checkpoint`);
  const version = bytes.readUInt32LE(4);
  if (version !== VERSION) throw new TrainError('CHECKPOINT_INVALID', `${path}: checkpoint version ${version}, expected ${VERSION}`);
  const headerLength = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)) as { state: S; entries: Entry[] };
  const dataStart = 12 + headerLength + ((4 - ((12 + headerLength) % 4)) % 4);
  if ((bytes.length - dataStart) % 4 !== 0) throw new TrainError('CHECKPOINT_INVALID', `${path}: truncated tensor data`);
  // Copy into an aligned buffer: the file's Buffer may not be 4-byte aligned in memory.
  const data = new Float32Array(new Uint8Array(bytes.subarray(dataStart)).buffer);
  const out: Checkpoint<S> = { state: header.state, weights: {}, objective: {}, optimizer: {} };
  for (const e of header.entries) {
    if (e.offset + e.length > data.length) throw new TrainError('CHECKPOINT_INVALID', `${path}: truncated at tensor ${e.name}`);
    if (!GROUPS.includes(e.group)) throw new TrainError('CHECKPOINT_INVALID', `${path}: unknown tensor group "${e.group}"`);
    out[e.group][e.name] = { shape: e.shape, values: data.slice(e.offset, e.offset + e.length) };
  }
  return out;
}
