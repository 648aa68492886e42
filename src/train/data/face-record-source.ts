// InsightFace's packed face sets (CASIA-WebFace, MS1MV3, Glint360K): dir/train.rec + train.idx
// (./recordio.ts), optionally dir/property ("num_classes,height,width"). As
// recognition/arcface_torch/dataset.py: when record 0's header has flag > 0, it is a header
// record whose labels are (first identity record, end of identity records) and the images are
// records 1 .. label[0] - 1; otherwise every record of train.idx is an image. An image's label is
// its header's label (the first one when flag > 0).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from './decode-image.js';
import type { FaceImage, FaceImageSource } from './face-image-source.js';
import { RecordFile, RecordIoError, firstLabel, readRecordIndex, unpackRecord } from './recordio.js';

export class FaceRecordSource implements FaceImageSource {
  readonly count: number;
  readonly source: string;

  private constructor(
    private readonly file: RecordFile,
    private readonly offsets: number[],
    readonly numIdentities: number,
    readonly height: number,
    readonly width: number,
    dir: string,
  ) {
    this.count = offsets.length;
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
      if (header0 && header0.flag > 0 && typeof header0.label !== 'number') {
        const [end, idEnd] = [Math.trunc(header0.label[0]), Math.trunc(header0.label[1])];
        imageKeys = Array.from({ length: end - 1 }, (_, i) => i + 1);
        identities = idEnd - end;
      } else {
        imageKeys = keys;
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
      if (identities === undefined) identities = await FaceRecordSource.countIdentities(file, imageKeys.map(at));
      return new FaceRecordSource(file, imageKeys.map(at), identities, height, width, dir);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** Without a header record or property file: 1 + the largest label, reading every header. */
  private static async countIdentities(file: RecordFile, offsets: number[]): Promise<number> {
    let max = -1;
    for (const o of offsets) max = Math.max(max, firstLabel(unpackRecord(await file.read(o)).header));
    return Math.trunc(max) + 1;
  }

  async read(index: number): Promise<FaceImage> {
    if (!(index >= 0 && index < this.count)) throw new RangeError(`image ${index} is not in 0..${this.count - 1}`);
    const { header, data } = unpackRecord(await this.file.read(this.offsets[index]));
    const label = Math.trunc(firstLabel(header));
    if (!(label >= 0 && label < this.numIdentities)) {
      throw new RecordIoError(`${this.file.path}: image ${index} has label ${label}, outside the set's ${this.numIdentities} identities`);
    }
    return { label, pixels: await decodeImage(data, { height: this.height, width: this.width, channels: 3 }) };
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
