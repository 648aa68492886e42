// Opens a face training set by its layout: InsightFace's train.rec + train.idx (+ property) when
// the folder holds them, else identity folders root/<identity>/*.jpg.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FaceFolderSource } from './face-folder-source.js';
import type { FaceImageSource } from './face-image-source.js';
import { FaceRecordSource } from './face-record-source.js';
import { TrainError } from '../train-error.js';

export type FaceSetFormat = 'recordio' | 'folders';

export function faceSetFormat(dir: string): FaceSetFormat {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TrainError('TRAINING_DATA_MISSING', `--data ${dir}: not a folder; it must hold identity folders (<identity>/*.jpg) or InsightFace's train.rec + train.idx`);
  }
  return existsSync(join(dir, 'train.rec')) ? 'recordio' : 'folders';
}

/** `size`: the images' size after decoding (default: the record set's property file, else 112x112). */
export async function openFaceSet(dir: string, size?: { height: number; width: number }): Promise<FaceImageSource> {
  return faceSetFormat(dir) === 'recordio' ? FaceRecordSource.open(dir, size) : new FaceFolderSource(dir, size?.height, size?.width);
}
