// Per-channel mean and standard deviation of pixel / 255 over a split's uint8 NHWC pixels: the
// normalization constants an ImageDataset records (population std, as torchvision's usual
// constants are computed).
import { InvariantError } from '../../errors.js';

export function channelMeanStd(images: Uint8Array, channels: number): { mean: number[]; std: number[] } {
  const sum = new Float64Array(channels);
  const squares = new Float64Array(channels);
  const count = images.length / channels;
  if (!Number.isInteger(count) || count === 0) throw new InvariantError(`channelMeanStd: ${images.length} values for ${channels} channels`);
  for (let i = 0; i < images.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      const v = images[i + c];
      sum[c] += v;
      squares[c] += v * v;
    }
  }
  const mean = Array.from(sum, (s) => s / count / 255);
  const std = Array.from(squares, (q, c) => Math.sqrt(Math.max(q / count / 65025 - mean[c] * mean[c], 0)));
  return { mean, std };
}
