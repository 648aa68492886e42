// The standard CIFAR augmentation (torchvision RandomCrop(32, padding=4) + RandomHorizontalFlip,
// as in the BCE3S reference's train transform): zero-pad by `padding` on every side, crop back to
// the original size at an offset drawn uniformly from 0..2*padding in each axis, then mirror
// left-right with probability 1/2 (off for digits, whose mirror images are other symbols).
// Seeded: one generator (src/seeded-random.ts) drives every draw, in image order.

export interface CropFlipOptions {
  padding: number;
  flip: boolean;
}

/** The crop of the zero-padded image at offset (dy, dx) in 0..2p, into `out` (NHWC, one image). */
export function cropPadded(
  src: Uint8Array, out: Uint8Array, height: number, width: number, channels: number,
  padding: number, dy: number, dx: number, mirror = false,
): void {
  for (let y = 0; y < height; y++) {
    const sy = y + dy - padding;
    for (let x = 0; x < width; x++) {
      const sx = (mirror ? width - 1 - x : x) + dx - padding;
      const o = (y * width + x) * channels;
      if (sy < 0 || sy >= height || sx < 0 || sx >= width) {
        out.fill(0, o, o + channels);
      } else {
        const s = (sy * width + sx) * channels;
        for (let c = 0; c < channels; c++) out[o + c] = src[s + c];
      }
    }
  }
}

/**
 * A new batch of `count` NHWC uint8 images, each cropped and maybe flipped. Per image it draws
 * dy, then dx, then the flip (when enabled) from `random`.
 */
export function randomCropFlip(
  images: Uint8Array, count: number, height: number, width: number, channels: number,
  { padding, flip }: CropFlipOptions, random: () => number,
): Uint8Array {
  const size = height * width * channels;
  const out = new Uint8Array(count * size);
  for (let n = 0; n < count; n++) {
    const dy = Math.floor(random() * (2 * padding + 1));
    const dx = Math.floor(random() * (2 * padding + 1));
    // A flip after the crop equals cropping the mirrored offset of the flipped image:
    // out(y, x) = crop(y, W-1-x), i.e. source column (W-1-x) + dx - p.
    const mirror = flip && random() < 0.5;
    cropPadded(images.subarray(n * size, (n + 1) * size), out.subarray(n * size, (n + 1) * size), height, width, channels, padding, dy, dx, mirror);
  }
  return out;
}
