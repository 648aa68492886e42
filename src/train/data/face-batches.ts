// Streaming batches of a face set for one epoch: a seeded permutation of the images per epoch
// (./rng.ts, so a resumed run sees the same order), images read and decoded a batch at a time,
// each mirrored left-right with probability 1/2 (on by default, as arcface_torch's
// RandomHorizontalFlip). Batches are uint8 NHWC ImageSplits: normalize them with BatchMaker.
import { mulberry32, streamSeed } from '../../seeded-random.js';
import type { FaceImageSource } from './face-image-source.js';
import type { ImageSplit } from './image-dataset.js';
import { cropPadded } from './random-crop-flip.js';
import { epochPermutation } from './rng.js';

export interface FaceBatchOptions {
  batchSize: number;
  seed: number;
  /** 1-based epoch: selects the permutation and the flips. */
  epoch: number;
  flip?: boolean;
  /** Position in the epoch's order to start from (resume); a multiple of batchSize. */
  start?: number;
  /** Drop a last batch smaller than batchSize (arcface_torch's DataLoader does). */
  dropLast?: boolean;
}

export async function* faceBatches(source: FaceImageSource, o: FaceBatchOptions): AsyncGenerator<ImageSplit> {
  const { batchSize, seed, epoch, flip = true, start = 0, dropLast = false } = o;
  const order = epochPermutation(source.count, seed, epoch);
  // One flip draw per image of the epoch, by position, so a resumed epoch flips the same images.
  const random = mulberry32(streamSeed(seed, `face-flip/${epoch}`));
  const mirror = Uint8Array.from({ length: source.count }, () => (flip && random() < 0.5 ? 1 : 0));
  const { height, width } = source;
  const size = height * width * 3;
  for (let at = start; at < source.count; at += batchSize) {
    const count = Math.min(batchSize, source.count - at);
    if (dropLast && count < batchSize) return;
    const faces = await Promise.all(Array.from({ length: count }, (_, i) => source.read(order[at + i])));
    const images = new Uint8Array(count * size);
    faces.forEach((f, i) => {
      const out = images.subarray(i * size, (i + 1) * size);
      if (mirror[at + i]) cropPadded(f.pixels, out, height, width, 3, 0, 0, 0, true);
      else out.set(f.pixels);
    });
    yield { images, labels: Int32Array.from(faces, (f) => f.label), count };
  }
}
