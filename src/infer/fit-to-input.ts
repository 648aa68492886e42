// Decoded pixels -> a model's fixed input size, keeping the map back to the original pixels, so
// that what a detector finds can be reported in the photo's own coordinates.
//   letterbox: scale to fit inside, centred, black padding (the smaller half of the padding
//              first); stretch: scale each axis to the input.
// Coordinates are continuous (pixel i spans [i, i+1)): photo x = (input x - offsetX) / scaleX.
import sharp from 'sharp';

import type { ResizeMode } from '../artifact/manifest.js';
import { messageOf } from '../errors.js';
import { InferError } from './infer-error.js';
import type { RgbImage } from './preprocess.js';

export interface FittedImage {
  /** Exactly the input's width x height, the image's channels. */
  pixels: RgbImage;
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
}

export async function fitToInput(image: RgbImage, width: number, height: number, mode: ResizeMode): Promise<FittedImage> {
  if (mode === 'center-crop') throw new InferError('INPUT_INVALID', 'A detector input cannot be center-cropped (faces at the edges would be lost); use letterbox or stretch');
  const { width: W, height: H, channels: C } = image;
  const fit = mode === 'letterbox' ? Math.min(width / W, height / H) : undefined;
  const rw = fit === undefined ? width : Math.max(1, Math.min(width, Math.round(W * fit)));
  const rh = fit === undefined ? height : Math.max(1, Math.min(height, Math.round(H * fit)));
  const offsetX = Math.floor((width - rw) / 2);
  const offsetY = Math.floor((height - rh) / 2);
  let resized: Buffer;
  try {
    resized = rw === W && rh === H
      ? Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength)
      : await sharp(image.data, { raw: { width: W, height: H, channels: C } }).resize(rw, rh, { fit: 'fill' }).raw().toBuffer();
  } catch (err) {
    throw new InferError('INFERENCE_FAILED', `Cannot resize ${W}x${H} pixels to ${rw}x${rh}: ${messageOf(err)}`, { cause: err });
  }
  let data: Uint8Array = resized;
  if (rw !== width || rh !== height) {
    data = new Uint8Array(width * height * C);
    for (let y = 0; y < rh; y++) data.set(resized.subarray(y * rw * C, (y + 1) * rw * C), ((y + offsetY) * width + offsetX) * C);
  }
  return { pixels: { data, width, height, channels: C }, scaleX: rw / W, scaleY: rh / H, offsetX, offsetY };
}
