// InsightFace's packed face sets (CASIA-WebFace, MS1MV3, Glint360K): dir/train.rec + train.idx
// (./recordio.ts), optionally dir/property ("num_classes,height,width"). As
// recognition/arcface_torch/dataset.py: when record 0's header has flag > 0, it is a header
// record whose labels are (first identity record, end of identity records) and the images are
// records 1 .. label[0] - 1; otherwise every record of train.idx is an image. An image's label is
// its header's label (the first one when flag > 0).
// Every image's label is known at open without reading the images: from the identity records
// that follow the images in the header-record layout (record label[0] + i holds identity i's
// image range (start, end)), else from one pass over the records' headers.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from './decode-image.js';
import type { FaceImage, FaceImageSource } from './face-image-source.js';
import { RecordFile, RecordIoError, firstLabel, readRecordIndex, unpackRecord } from './recordio.js';
import { InvariantError } from '../../errors.js';

export class FaceRecordSource implements FaceImageSource {
  readonly count: number;
  readonly source: string;
  readonly identities: string[];

  private constructor(
    private readonly file: RecordFile,
    private readonly offsets: number[],
    readonly labels: Int32Array,
    readonly numIdentities: number,
    readonly height: number,
    readonly width: number,
    dir: string,
  ) {
    this.count = offsets.length;
    // InsightFace's packed sets carry no names: identities are their label numbers.
    this.identities = Array.from({ length: numIdentities }, (_, i) => String(i));
    this.source = `${dir} (InsightFace RecordIO, ${numIdentities} identities, ${this.count} images)`;
  }

  static async open(dir: string, size?: { height: number; width: number }): Promise<FaceRecordSource> {
    const rec = join(dir, 'train.rec');
    const idx = join(dir, 'train.idx');
    for (const f of [rec, idx]) if (!existsSync(f)) throw new RecordIoError(`${f} not found; an InsightFace set holds train.rec and train.idx`);
    const { keys, offsets } = await readRecordIndex(idx);
    const file = await RecordFile.open(rec);
    try {
      const at = (key: number) => {
        const o = offsets.get(key);
        if (o === undefined) throw new RecordIoError(`${idx}: no record ${key}`);
        return o;
      };
      const header0 = offsets.has(0) ? unpackRecord(await file.read(at(0))).header : undefined;
      let imageKeys: number[];
      let identities: number | undefined;
      let labels: Int32Array;
      if (header0 && header0.flag > 0 && typeof header0.label !== 'number') {
        const [end, idEnd] = [Math.trunc(header0.label[0]), Math.trunc(header0.label[1])];
        imageKeys = Array.from({ length: end - 1 }, (_, i) => i + 1);
        identities = idEnd - end;
        labels = await FaceRecordSource.labelsFromIdentityRecords(file, end, idEnd, at, idx);
      } else {
        imageKeys = keys;
        labels = await FaceRecordSource.labelsFromHeaders(file, imageKeys.map(at));
      }
      const property = join(dir, 'property');
      let height = size?.height ?? 112;
      let width = size?.width ?? 112;
      if (existsSync(property)) {
        const [classes, h, w] = readFileSync(property, 'utf8').trim().split(',').map(Number);
        if (![classes, h, w].every((v) => Number.isInteger(v) && v > 0)) throw new RecordIoError(`${property}: expected "num_classes,height,width"`);
        identities = classes;
        height = size?.height ?? h;
        width = size?.width ?? w;
      }
      if (identities === undefined) identities = labels.reduce((m, y) => Math.max(m, y), -1) + 1;
      const outside = labels.findIndex((y) => !(y >= 0 && y < identities!));
      if (outside >= 0) throw new RecordIoError(`${rec}: image ${outside} has label ${labels[outside]}, outside the set's ${identities} identities`);
      return new FaceRecordSource(file, imageKeys.map(at), labels, identities, height, width, dir);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** Identity records end .. idEnd - 1: record end + i holds (start, stop), the keys of identity i's images. */
  private static async labelsFromIdentityRecords(file: RecordFile, end: number, idEnd: number, at: (key: number) => number, idx: string): Promise<Int32Array> {
    const labels = new Int32Array(end - 1).fill(-1);
    for (let key = end; key < idEnd; key++) {
      const { label } = unpackRecord(await file.read(at(key))).header;
      if (typeof label === 'number' || label.length < 2) throw new RecordIoError(`${idx}: identity record ${key} holds no (start, end) image range`);
      const [start, stop] = [Math.trunc(label[0]), Math.trunc(label[1])];
      if (!(start >= 1 && stop <= end && start <= stop)) throw new RecordIoError(`${idx}: identity record ${key} has image range [${start}, ${stop}) outside 1..${end - 1}`);
      labels.fill(key - end, start - 1, stop - 1);
    }
    const missing = labels.indexOf(-1);
    if (missing >= 0) throw new RecordIoError(`${idx}: image record ${missing + 1} belongs to no identity record`);
    return labels;
  }

  /** Without identity records: every image's header, in one pass. */
  private static async labelsFromHeaders(file: RecordFile, offsets: number[]): Promise<Int32Array> {
    const labels = new Int32Array(offsets.length);
    for (let i = 0; i < offsets.length; i++) labels[i] = Math.trunc(firstLabel(unpackRecord(await file.read(offsets[i])).header));
    return labels;
  }

  async read(index: number): Promise<FaceImage> {
    if (!(index >= 0 && index < this.count)) throw new InvariantError(`image ${index} is not in 0..${this.count - 1}`);
    const { header, data } = unpackRecord(await this.file.read(this.offsets[index]));
    const label = Math.trunc(firstLabel(header));
    if (label !== this.labels[index]) {
      throw new RecordIoError(`${this.file.path}: image ${index} has label ${label}, its identity record says ${this.labels[index]}`);
    }
    return { label, pixels: await decodeImage(data, { height: this.height, width: this.width, channels: 3 }) };
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
