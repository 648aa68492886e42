// Turns uint8 NHWC images into normalized float32 batches, exactly as the exported manifest
// describes the preprocessing: x = (pixel / 255 - mean[c]) / std[c].
import type { ImageDataset, ImageSplit } from './image-dataset.js';

export interface Batch {
  /** batch x height x width x channels, normalized. */
  pixels: Float32Array;
  labels: Int32Array;
  size: number;
}

/** What normalization needs to know of a set of images. */
export type PixelFormat = Pick<ImageDataset, 'height' | 'width' | 'channels' | 'mean' | 'std'>;

export class BatchMaker {
  private readonly pixelsPerImage: number;
  private readonly scale: Float32Array;
  private readonly shift: Float32Array;

  constructor(private readonly dataset: PixelFormat) {
    const { height, width, channels, mean, std } = dataset;
    this.pixelsPerImage = height * width * channels;
    // Precomputed per channel: pixel * scale + shift == (pixel / 255 - mean) / std.
    this.scale = Float32Array.from(std, (s) => 1 / (255 * s));
    this.shift = Float32Array.from(mean, (m, c) => -m / std[c]);
  }

  /** The examples at positions [start, start + size) of `split`, through `order` when given. */
  make(split: ImageSplit, start: number, size: number, order?: Uint32Array): Batch {
    const n = Math.min(size, split.count - start);
    const { channels } = this.dataset;
    const ppi = this.pixelsPerImage;
    const pixels = new Float32Array(n * ppi);
    const labels = new Int32Array(n);
    for (let b = 0; b < n; b++) {
      const index = order ? order[start + b] : start + b;
      const src = index * ppi;
      const dst = b * ppi;
      for (let p = 0; p < ppi; p++) {
        const c = p % channels;
        pixels[dst + p] = split.images[src + p] * this.scale[c] + this.shift[c];
      }
      labels[b] = split.labels[index];
    }
    return { pixels, labels, size: n };
  }

  /** Sequential batches over a whole split (evaluation). */
  *sequential(split: ImageSplit, size: number): Generator<Batch> {
    for (let start = 0; start < split.count; start += size) yield this.make(split, start, size);
  }
}
