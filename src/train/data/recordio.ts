// MXNet's indexed RecordIO, as InsightFace ships its face training sets (train.rec + train.idx;
// read by recognition/arcface_torch/dataset.py through mx.recordio.MXIndexedRecordIO):
//   train.idx   "key\toffset\n" per record: the byte offset of each record in train.rec.
//   train.rec   records of dmlc-core's RecordIO (src/recordio.cc), little-endian:
//                 uint32 magic 0xced7230a, uint32 lrecord = cflag << 29 | length, `length`
//                 bytes, zero padding to a multiple of 4. A payload that contained the magic at a
//                 4-aligned offset was split there by the writer (cflag 1 first part, 2 middle,
//                 3 last; 0 a whole record) and the magic dropped: the reader re-inserts it.
//   payload     mxnet.recordio.pack: IRHeader struct 'IfQQ' = uint32 flag, float32 label,
//                 uint64 id, uint64 id2 (24 bytes); when flag > 0, flag float32 labels follow
//                 (the header's label is then unused); then the encoded image.
// Records are read by offset through a file handle: the file is never loaded whole.
import { open, readFile, type FileHandle } from 'node:fs/promises';

export const RECORDIO_MAGIC = 0xced7230a;
const IR_HEADER_BYTES = 24;

export class RecordIoError extends Error {
  readonly code = 'RECORDIO_MALFORMED';
}

export interface IRHeader {
  flag: number;
  /** The header's label, or the `flag` labels that follow it when flag > 0. */
  label: number | Float32Array;
  id: bigint;
  id2: bigint;
}

/** train.idx: keys in file order, and key -> byte offset. */
export async function readRecordIndex(path: string): Promise<{ keys: number[]; offsets: Map<number, number> }> {
  const keys: number[] = [];
  const offsets = new Map<number, number>();
  const lines = (await readFile(path, 'utf8')).split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const [key, offset] = line.trim().split('\t');
    const k = Number(key);
    const o = Number(offset);
    if (!Number.isInteger(k) || !Number.isInteger(o) || o < 0) throw new RecordIoError(`${path}:${i + 1}: expected "key<TAB>offset", got ${JSON.stringify(line)}`);
    keys.push(k);
    offsets.set(k, o);
  });
  return { keys, offsets };
}

/** mxnet.recordio.unpack: the header and the rest of the payload (the encoded image). */
export function unpackRecord(payload: Uint8Array): { header: IRHeader; data: Uint8Array } {
  if (payload.length < IR_HEADER_BYTES) throw new RecordIoError(`record of ${payload.length} bytes is shorter than its 24-byte header`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flag = view.getUint32(0, true);
  let label: number | Float32Array = view.getFloat32(4, true);
  let at = IR_HEADER_BYTES;
  if (flag > 0) {
    if (payload.length < at + 4 * flag) throw new RecordIoError(`record header says ${flag} labels, the record is too short for them`);
    label = Float32Array.from({ length: flag }, (_, i) => view.getFloat32(at + 4 * i, true));
    at += 4 * flag;
  }
  return { header: { flag, label, id: view.getBigUint64(8, true), id2: view.getBigUint64(16, true) }, data: payload.subarray(at) };
}

/** The first label of a header (InsightFace: `label[0]` when it is an array). */
export function firstLabel(header: IRHeader): number {
  return typeof header.label === 'number' ? header.label : header.label[0];
}

export class RecordFile {
  private constructor(private readonly handle: FileHandle, readonly path: string, readonly size: number) {}

  static async open(path: string): Promise<RecordFile> {
    const handle = await open(path, 'r');
    return new RecordFile(handle, path, (await handle.stat()).size);
  }

  private async readAt(position: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, position + done);
      if (bytesRead === 0) throw new RecordIoError(`${this.path}: truncated record at byte ${position} (file ends at ${this.size})`);
      done += bytesRead;
    }
    return out;
  }

  /** The payload of the record at `offset`, its parts joined (dmlc RecordIOReader::ReadRecord). */
  async read(offset: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let position = offset;
    for (;;) {
      const head = new DataView((await this.readAt(position, 8)).buffer);
      if (head.getUint32(0, true) !== RECORDIO_MAGIC) {
        throw new RecordIoError(`${this.path}: no RecordIO magic at byte ${position}; is train.idx the index of this train.rec?`);
      }
      const lrecord = head.getUint32(4, true);
      const cflag = lrecord >>> 29;
      const length = lrecord & ((1 << 29) - 1);
      parts.push(await this.readAt(position + 8, length));
      position += 8 + Math.ceil(length / 4) * 4;
      if (cflag === 0 || cflag === 3) break;
      const magic = new Uint8Array(4);
      new DataView(magic.buffer).setUint32(0, RECORDIO_MAGIC, true);
      parts.push(magic);
    }
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
