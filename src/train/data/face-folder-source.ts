// Identity folders, root/<identity>/*.jpg (aligned faces, 112x112 in InsightFace's sets): labels
// are the identities' positions in sorted order; images are decoded when read.
import { listClassFolders } from './class-folders.js';
import { decodeImage } from './decode-image.js';
import type { FaceImage, FaceImageSource } from './face-image-source.js';
import { TrainError } from '../train-error.js';
import { InvariantError } from '../../errors.js';

export class FaceFolderSource implements FaceImageSource {
  readonly count: number;
  readonly numIdentities: number;
  readonly identities: string[];
  readonly source: string;
  readonly labels: Int32Array;
  private readonly paths: string[];

  constructor(root: string, readonly height = 112, readonly width = 112) {
    const { classNames, files } = listClassFolders(root);
    this.identities = classNames;
    this.paths = files.flat();
    this.labels = Int32Array.from(files.flatMap((f, label) => f.map(() => label)));
    this.count = this.paths.length;
    this.numIdentities = classNames.length;
    this.source = `${root} (identity folders, ${this.numIdentities} identities, ${this.count} images)`;
  }

  async read(index: number): Promise<FaceImage> {
    if (!(index >= 0 && index < this.count)) throw new InvariantError(`image ${index} is not in 0..${this.count - 1}`);
    const path = this.paths[index];
    try {
      return { label: this.labels[index], pixels: await decodeImage(path, { height: this.height, width: this.width, channels: 3 }) };
    } catch (error) {
      throw new TrainError('TRAINING_DATA_INVALID', `${path}: cannot decode the image (${(error as Error).message})`);
    }
  }

  async close(): Promise<void> {}
}
