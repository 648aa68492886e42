// Decodes an encoded image (PNG, JPEG, ...) with sharp into uint8 HWC pixels of a fixed size:
// RGB for 3 channels, luminance for 1; alpha dropped; resized by stretching to exactly
// height x width (no resize when it already is that size).
import sharp from 'sharp';
import { TrainError } from '../train-error.js';

export interface ImageShape {
  height: number;
  width: number;
  channels: 1 | 3;
}

export async function decodeImage(input: string | Uint8Array, { height, width, channels }: ImageShape): Promise<Uint8Array> {
  let pipeline = sharp(input, { failOn: 'error' }).removeAlpha();
  pipeline = channels === 1 ? pipeline.greyscale() : pipeline.toColourspace('srgb');
  const meta = await sharp(input).metadata();
  if (meta.height !== height || meta.width !== width) pipeline = pipeline.resize(width, height, { fit: 'fill' });
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== channels || info.width !== width || info.height !== height) {
    throw new TrainError('TRAINING_DATA_INVALID', `decoded ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x${channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
