// Image -> model input tensor, exactly as the manifest's InputSpec says:
// decode (any format sharp reads), apply EXIF orientation, composite transparency onto white,
// resize to height x width (stretch | letterbox | center-crop), pick the colour order
// (rgb | bgr | gray), then x = (pixel * scale - mean[c]) / std[c] into NCHW or NHWC float32.
import sharp, { type ResizeOptions, type Sharp } from 'sharp';

import type { InputSpec } from '../artifact/manifest.js';
import { messageOf } from '../errors.js';
import { InferError } from './infer-error.js';

/** Decoded 8-bit pixels, row-major, interleaved: 1 (gray), 3 (RGB) or 4 (RGBA, alpha ignored). */
export interface RgbImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (decompression bombs). Default 64 Mpx. */
  maxPixels?: number;
  /**
   * 'error' (default): refuse damaged data (a truncated JPEG is IMAGE_UNREADABLE). 'none':
   * decode what can be decoded, as OpenCV's imread does (a truncated JPEG comes out as libjpeg
   * fills it, with a warning): the evaluator, whose reference decodes with imread, uses it.
   */
  failOn?: 'error' | 'none';
}

export const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;

/** Letterbox padding (before normalization). */
const LETTERBOX_BACKGROUND = { r: 0, g: 0, b: 0, alpha: 1 };
/** Transparent pixels are composited onto white, as an image viewer shows them. */
const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 };

/** Number of floats one image occupies in the input tensor (height * width * channels). */
export function inputSize(input: Pick<InputSpec, 'height' | 'width' | 'channels'>): number {
  return input.height * input.width * input.channels;
}

/** The input tensor's dims for a batch of n, in the manifest's layout. */
export function inputDims(input: Pick<InputSpec, 'layout' | 'height' | 'width' | 'channels'>, n: number): number[] {
  return input.layout === 'NCHW' ? [n, input.channels, input.height, input.width] : [n, input.height, input.width, input.channels];
}

/** Decodes an encoded image (PNG, JPEG, WebP, GIF, TIFF, AVIF, ...) to upright 8-bit RGB. */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<RgbImage> {
  return runSharp(() => openImage(bytes, options));
}

/**
 * One encoded image -> one item of the input tensor (height*width*channels floats), written
 * into `out` (a fresh array by default). Decoding and resizing run in one sharp pipeline (JPEGs
 * shrink while decoding).
 */
export async function preprocessImage(bytes: Uint8Array, input: InputSpec, options: DecodeOptions = {}, out?: Float32Array): Promise<Float32Array> {
  const img = await runSharp(() => openImage(bytes, options).resize(resizeOptions(input)));
  return imageToTensor(img, input, out);
}

/**
 * Already-decoded pixels (e.g. aligned 112x112 face crops) -> one item of the input tensor.
 * Pixels of the model's size skip sharp entirely; others are resized per input.resize first.
 */
export async function preprocessPixels(img: RgbImage, input: InputSpec): Promise<Float32Array> {
  checkPixels(img);
  if (img.width === input.width && img.height === input.height) return imageToTensor(img, input);
  const resized = await runSharp(() =>
    sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } }).resize(resizeOptions(input)),
  );
  return imageToTensor(resized, input);
}

/**
 * Pixels of exactly input.height x input.width -> tensor values, written into `out` at `offset`
 * (a fresh array by default). Synchronous, so batches can be filled in place.
 * Gray is PIL's convert('L'): ITU-R 601-2 luma in 16-bit fixed point,
 * (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (libImaging/Convert.c, L24), which is not the
 * rounded float 0.299 R + 0.587 G + 0.114 B for 9,716 of the 16.7M colours.
 */
export function imageToTensor(img: RgbImage, input: InputSpec, out?: Float32Array, offset = 0): Float32Array {
  checkPixels(img);
  const { width: W, height: H, channels: C } = input;
  if (img.width !== W || img.height !== H) {
    throw new InferError('INPUT_INVALID', `Pixels are ${img.width}x${img.height}, the model takes ${W}x${H} (width x height); use preprocessPixels to resize`);
  }
  const target = out ?? new Float32Array(inputSize(input));
  if (offset < 0 || offset + W * H * C > target.length) {
    throw new InferError('INPUT_INVALID', `Output array of ${target.length} floats has no room for ${W * H * C} at offset ${offset}`);
  }
  if ((C !== 1 && C !== 3) || input.mean.length !== C || input.std.length !== C) {
    throw new InferError('INPUT_INVALID', `Input spec has ${C} channels with ${input.mean.length} means and ${input.std.length} stds; expected 1 or 3 channels, one mean and std each`);
  }
  const k = input.scale;
  const src = img.data;
  const sc = img.channels;
  const plane = H * W;
  const nchw = input.layout === 'NCHW';
  const bgr = input.color === 'bgr';
  const [m0, m1, m2] = [input.mean[0], input.mean[1] ?? 0, input.mean[2] ?? 0];
  const [s0, s1, s2] = [input.std[0], input.std[1] ?? 1, input.std[2] ?? 1];
  for (let p = 0; p < plane; p++) {
    const i = p * sc;
    const r = src[i];
    const g = sc === 1 ? r : src[i + 1];
    const bl = sc === 1 ? r : src[i + 2];
    if (C === 1) {
      const v = sc === 1 ? r : (r * 19595 + g * 38470 + bl * 7471 + 0x8000) >> 16;
      target[offset + p] = (v * k - m0) / s0;
      continue;
    }
    const first = bgr ? bl : r;
    const third = bgr ? r : bl;
    if (nchw) {
      target[offset + p] = (first * k - m0) / s0;
      target[offset + plane + p] = (g * k - m1) / s1;
      target[offset + 2 * plane + p] = (third * k - m2) / s2;
    } else {
      const o = offset + p * 3;
      target[o] = (first * k - m0) / s0;
      target[o + 1] = (g * k - m1) / s1;
      target[o + 2] = (third * k - m2) / s2;
    }
  }
  return target;
}

function resizeOptions(input: InputSpec): ResizeOptions {
  const size = { width: input.width, height: input.height };
  switch (input.resize) {
    case 'stretch':
      return { ...size, fit: 'fill' };
    case 'letterbox':
      return { ...size, fit: 'contain', position: 'centre', background: LETTERBOX_BACKGROUND };
    case 'center-crop':
      return { ...size, fit: 'cover', position: 'centre' };
  }
}

function openImage(bytes: Uint8Array, options: DecodeOptions): Sharp {
  if (bytes.byteLength === 0) throw new InferError('IMAGE_UNREADABLE', 'The image is empty (0 bytes)');
  return sharp(bytes, {
    autoOrient: true,
    failOn: options.failOn ?? 'error',
    limitInputPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
  }).flatten({ background: ALPHA_BACKGROUND });
}

/** Runs a pipeline to 8-bit sRGB raw pixels, turning sharp's errors into typed ones. */
async function runSharp(build: () => Sharp): Promise<RgbImage> {
  try {
    const { data, info } = await build().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 && info.channels !== 1 && info.channels !== 4) {
      throw new InferError('IMAGE_UNREADABLE', `Decoded image has ${info.channels} channels; expected gray, RGB or RGBA`);
    }
    return { data, width: info.width, height: info.height, channels: info.channels };
  } catch (err) {
    if (err instanceof InferError) throw err;
    const message = messageOf(err);
    if (/pixel limit/i.test(message)) {
      throw new InferError('IMAGE_TOO_LARGE', `The image has too many pixels: ${message}`, { cause: err });
    }
    throw new InferError(
      'IMAGE_UNREADABLE',
      `Cannot decode the image (${message.trim()}); send a PNG, JPEG, WebP, GIF, TIFF or AVIF image`,
      { cause: err },
    );
  }
}

function checkPixels(img: RgbImage): void {
  const ok =
    Number.isInteger(img.width) && img.width > 0 && Number.isInteger(img.height) && img.height > 0 &&
    (img.channels === 1 || img.channels === 3 || img.channels === 4) &&
    img.data.length === img.width * img.height * img.channels;
  if (!ok) {
    throw new InferError(
      'INPUT_INVALID',
      `Pixel buffer of ${img.data?.length} bytes does not hold ${img.width}x${img.height}x${img.channels} (width x height x channels, channels 1, 3 or 4)`,
    );
  }
}
