// A face set (identity folders or InsightFace's RecordIO, ./face-image-source.ts) as the training
// loop's TrainingSource: the batch's images are read and decoded when asked for (a face set does
// not fit in memory), each mirrored left-right with probability 1/2 from the step's random
// numbers (on by default, as arcface_torch's RandomHorizontalFlip; a resumed run flips exactly as
// an uninterrupted one), and normalized as InsightFace does: RGB, (pixel / 255 - 0.5) / 0.5.
import { BatchMaker, type Batch, type PixelFormat } from './batches.js';
import type { FaceImageSource } from './face-image-source.js';
import { cropPadded } from './random-crop-flip.js';
import type { TrainingSource } from './training-source.js';

/** InsightFace's input convention (PROTOCOLS.md, "Pixels"): the exported manifest records it. */
export const FACE_NORMALIZATION = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } as const;

export class FaceTrainingSource implements TrainingSource {
  readonly count: number;
  readonly labels: Int32Array;
  readonly classes: number;
  readonly inputShape: [number, number, number];
  readonly format: PixelFormat;
  private readonly maker: BatchMaker;

  constructor(private readonly faces: FaceImageSource, private readonly flip = true) {
    this.count = faces.count;
    this.labels = faces.labels;
    this.classes = faces.numIdentities;
    this.inputShape = [faces.height, faces.width, 3];
    this.format = { height: faces.height, width: faces.width, channels: 3, mean: [...FACE_NORMALIZATION.mean], std: [...FACE_NORMALIZATION.std] };
    this.maker = new BatchMaker(this.format);
  }

  async read(indices: ArrayLike<number>, random: () => number): Promise<Batch> {
    const count = indices.length;
    // One draw per image, in batch order, before any read finishes: the draws never depend on timing.
    const mirror = Array.from({ length: count }, () => this.flip && random() < 0.5);
    const faces = await Promise.all(Array.from({ length: count }, (_, i) => this.faces.read(indices[i])));
    const { height, width } = this.faces;
    const size = height * width * 3;
    const images = new Uint8Array(count * size);
    faces.forEach((f, i) => {
      const out = images.subarray(i * size, (i + 1) * size);
      if (mirror[i]) cropPadded(f.pixels, out, height, width, 3, 0, 0, 0, true);
      else out.set(f.pixels);
    });
    return this.maker.make({ images, labels: Int32Array.from(faces, (f) => f.label), count }, 0, count);
  }
}
