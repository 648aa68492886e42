// Where the training loop's images come from: any set of labelled images that can hand out a
// normalized batch for a list of positions, with the run's augmentation drawn from the step's
// random numbers (so a resumed run augments exactly as an uninterrupted one). In memory for
// MNIST, Fashion-MNIST, CIFAR and image folders; streaming sources serve sets too large for it.
import { BatchMaker, type Batch } from './batches.js';
import type { ImageDataset, ImageSplit } from './image-dataset.js';
import { randomCropFlip, type CropFlipOptions } from './random-crop-flip.js';

export interface TrainingSource {
  /** Images per epoch. */
  readonly count: number;
  /** The class (or identity) of every image, by position. */
  readonly labels: Int32Array;
  readonly classes: number;
  /** [height, width, channels] of the batches. */
  readonly inputShape: [number, number, number];
  /** The images at `indices`, augmented with draws from `random`, normalized for the backbone. */
  read(indices: ArrayLike<number>, random: () => number): Promise<Batch>;
}

/** Draws the positions of a partner batch (BCE3S's mixup / cutmix partners). */
export interface BatchSampler {
  sample(size: number, random: () => number): ArrayLike<number>;
}

/** Uniform over images, with replacement (the BCE3S reference's default partner sampler). */
export function uniformSampler(count: number): BatchSampler {
  return { sample: (size, random) => Uint32Array.from({ length: size }, () => Math.floor(random() * count)) };
}

/** An in-memory split, with optional random crop and flip (src/train/data/random-crop-flip.ts). */
export class InMemorySource implements TrainingSource {
  readonly count: number;
  readonly labels: Int32Array;
  readonly classes: number;
  readonly inputShape: [number, number, number];
  private readonly maker: BatchMaker;
  private readonly pixels: number;

  constructor(dataset: ImageDataset, private readonly split: ImageSplit, private readonly augment?: CropFlipOptions) {
    this.count = split.count;
    this.labels = split.labels;
    this.classes = dataset.classNames.length;
    this.inputShape = [dataset.height, dataset.width, dataset.channels];
    this.maker = new BatchMaker(dataset);
    this.pixels = dataset.height * dataset.width * dataset.channels;
  }

  async read(indices: ArrayLike<number>, random: () => number): Promise<Batch> {
    const count = indices.length;
    let images: Uint8Array = new Uint8Array(count * this.pixels);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const at = indices[i];
      images.set(this.split.images.subarray(at * this.pixels, (at + 1) * this.pixels), i * this.pixels);
      labels[i] = this.split.labels[at];
    }
    if (this.augment) images = randomCropFlip(images, count, ...this.inputShape, this.augment, random);
    return this.maker.make({ images, labels, count }, 0, count);
  }
}
