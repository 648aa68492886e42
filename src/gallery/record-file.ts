// The on-disk record format of galleries (write-ahead logs, snapshots, exports): a sequence of
// self-checking frames, so a reader can tell a complete record from one cut short by a crash.
//
//   frame   := magic "PGR1" | u32 payload length | u32 checksum | payload      (little endian)
//   payload := u32 header length | header (UTF-8 JSON object with "op") | float32 values
//   checksum = the first 4 bytes of sha256(payload)
//
// Frames are only ever appended, and a log is fsynced before a write is acknowledged, so the only
// frame a crash can damage is the last one written; readers stop at the first frame that is
// short or fails its checksum, and RecordLog.open truncates the file there.
import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';

import { fsyncDir } from '../artifact/atomic-write.js';
import { GalleryError } from './gallery-error.js';

const MAGIC = 0x31524750; // "PGR1" read as little-endian u32
const FRAME_HEADER = 12;
/** Largest payload accepted when reading (a corrupt length must not allocate gigabytes). */
const MAX_PAYLOAD = 1 << 30;
/** Bytes read at a time. */
const READ_CHUNK = 4 << 20;

// Float32 values are copied as bytes: the format is little endian, and so is every host we run on.
if (endianness() !== 'LE') throw new GalleryError('GALLERY_UNAVAILABLE', 'protoserve galleries need a little-endian host');

export interface GalleryRecord {
  header: { op: string; [key: string]: unknown };
  /** Embeddings or prototypes carried by the record, rows back to back. */
  vectors?: Float32Array;
}

function checksum(payload: Uint8Array): number {
  return createHash('sha256').update(payload).digest().readUInt32LE(0);
}

export function encodeRecord(record: GalleryRecord): Buffer {
  const header = Buffer.from(JSON.stringify(record.header), 'utf8');
  const vectors = record.vectors ?? new Float32Array(0);
  const payloadLength = 4 + header.length + vectors.length * 4;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payloadLength);
  frame.writeUInt32LE(MAGIC, 0);
  frame.writeUInt32LE(payloadLength, 4);
  frame.writeUInt32LE(header.length, FRAME_HEADER);
  header.copy(frame, FRAME_HEADER + 4);
  Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength).copy(frame, FRAME_HEADER + 4 + header.length);
  frame.writeUInt32LE(checksum(frame.subarray(FRAME_HEADER)), 8);
  return frame;
}

function decodePayload(payload: Buffer): GalleryRecord | undefined {
  const headerLength = payload.readUInt32LE(0);
  if (4 + headerLength > payload.length || (payload.length - 4 - headerLength) % 4 !== 0) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(payload.toString('utf8', 4, 4 + headerLength));
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null || typeof (header as { op?: unknown }).op !== 'string') return undefined;
  const count = (payload.length - 4 - headerLength) / 4;
  const vectors = new Float32Array(count);
  new Uint8Array(vectors.buffer).set(payload.subarray(4 + headerLength));
  return { header: header as GalleryRecord['header'], ...(count > 0 ? { vectors } : {}) };
}

export interface ReadResult {
  /** Bytes up to the end of the last complete frame. */
  validBytes: number;
  fileBytes: number;
  records: number;
}

/**
 * Calls `onRecord` for every complete frame of the file, in order, stopping at the first damaged
 * or short one. Reads in chunks, so a snapshot of any size is never held in memory whole.
 */
export async function readRecords(path: string, onRecord: (record: GalleryRecord) => void): Promise<ReadResult> {
  const fh = await open(path, 'r');
  try {
    const fileBytes = (await fh.stat()).size;
    let position = 0; // start of the next frame in the file
    let records = 0;
    let window = Buffer.alloc(0); // file bytes from `position` on
    const fill = async (bytes: number): Promise<boolean> => {
      if (window.length >= bytes) return true;
      const end = Math.min(fileBytes, position + Math.max(bytes, READ_CHUNK));
      if (end - position < bytes) return false;
      const next = Buffer.allocUnsafe(end - position);
      window.copy(next, 0);
      let have = window.length;
      while (have < next.length) {
        const { bytesRead } = await fh.read(next, have, next.length - have, position + have);
        if (bytesRead === 0) return false;
        have += bytesRead;
      }
      window = next;
      return true;
    };
    while (await fill(FRAME_HEADER)) {
      const length = window.readUInt32LE(4);
      if (window.readUInt32LE(0) !== MAGIC || length < 4 || length > MAX_PAYLOAD) break;
      if (!(await fill(FRAME_HEADER + length))) break;
      const payload = window.subarray(FRAME_HEADER, FRAME_HEADER + length);
      if (checksum(payload) !== window.readUInt32LE(8)) break;
      const record = decodePayload(payload);
      if (!record) break;
      onRecord(record);
      records++;
      position += FRAME_HEADER + length;
      window = window.subarray(FRAME_HEADER + length);
    }
    return { validBytes: position, fileBytes, records };
  } finally {
    await fh.close();
  }
}

async function writeExactly(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

type Waiter = { frame: Buffer; resolve: () => void; reject: (err: Error) => void };

/**
 * An append-only record file whose append() resolves once the records are on disk (fdatasync).
 * Appends that arrive while a sync is running are written together and synced once (group
 * commit), so many concurrent writers cost one fsync per batch. After a failed write the log
 * refuses every later append: what is on disk is no longer known.
 */
export class RecordLog {
  private queue: Waiter[] = [];
  private flushing?: Promise<void>;
  private failure?: Error;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private position: number,
  ) {}

  /** Creates an empty log (it must not exist) and makes its name durable. */
  static async create(path: string): Promise<RecordLog> {
    const fh = await open(path, 'wx');
    await fh.sync();
    await fsyncDir(path);
    return new RecordLog(path, fh, 0);
  }

  /** Opens an existing log for appending after its last complete frame (cutting a torn tail). */
  static async openAt(path: string, validBytes: number): Promise<RecordLog> {
    const fh = await open(path, 'r+');
    const size = (await fh.stat()).size;
    if (size !== validBytes) {
      await fh.truncate(validBytes);
      await fh.sync();
    }
    return new RecordLog(path, fh, validBytes);
  }

  /** Bytes in the log. */
  get size(): number {
    return this.position + this.queue.reduce((n, w) => n + w.frame.length, 0);
  }

  append(records: readonly GalleryRecord[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new GalleryError('GALLERY_UNAVAILABLE', `record log ${this.path} is closed`));
    const frame = Buffer.concat(records.map(encodeRecord));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ frame, resolve, reject });
      this.flushing ??= this.flush().finally(() => {
        this.flushing = undefined;
      });
    });
  }

  /** Waits for every append so far, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.fh.close();
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const data = batch.length === 1 ? batch[0].frame : Buffer.concat(batch.map((w) => w.frame));
      try {
        await writeExactly(this.fh, data, this.position);
        await this.fh.datasync();
        this.position += data.length;
        for (const w of batch) w.resolve();
      } catch (err) {
        this.failure = new GalleryError('GALLERY_UNAVAILABLE', `writing ${this.path} failed: ${(err as Error).message}`, { cause: err });
        for (const w of [...batch, ...this.queue]) w.reject(this.failure);
        this.queue = [];
        return;
      }
    }
  }
}

/** Writes `records` to a new file at `path` through a temporary name: all of them, or nothing. */
export async function writeRecordFile(path: string, records: Iterable<GalleryRecord>): Promise<number> {
  const temp = `${path}.${process.pid}.tmp`;
  const fh = await open(temp, 'w');
  let position = 0;
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (const record of records) {
      const frame = encodeRecord(record);
      pending.push(frame);
      pendingBytes += frame.length;
      if (pendingBytes >= 8 << 20) {
        await writeExactly(fh, Buffer.concat(pending), position);
        position += pendingBytes;
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pendingBytes > 0) await writeExactly(fh, Buffer.concat(pending), position);
    position += pendingBytes;
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(temp, path);
  await fsyncDir(path);
  return position;
}
