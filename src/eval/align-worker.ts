// Worker thread of the evaluator's image pipeline: decodes an image's bytes (read by the main
// thread, which hashes them for the cache) to 8-bit RGB (EXIF orientation applied, as cv2.imread
// does), reads its landmarks when they are in a side file, and aligns it onto the template of
// the model's input size. The pixels go back to the main thread, which batches them.
// Damaged data is decoded as OpenCV's imread decodes it (a truncated JPEG, with a warning), as
// the reference does; what imread cannot decode either comes back as an error with its code.
import { parentPort } from 'node:worker_threads';

import sharp from 'sharp';

import { hasCode, messageOf } from '../errors.js';
import { alignFace } from '../infer/face-align.js';
import { decodeImage, type RgbImage } from '../infer/preprocess.js';
import { readLandmarksJson } from './landmarks-json.js';

export interface AlignTask {
  id: number;
  /** For messages. */
  path: string;
  /** The encoded image. */
  bytes: Uint8Array;
  landmarks?: Float64Array;
  landmarksFile?: string;
  /** The aligned crop's size (the model's input). */
  width: number;
  height: number;
}

export type AlignResult =
  | { id: number; ok: true; data: Uint8Array; width: number; height: number; channels: number; aligned: boolean; warning?: string }
  | { id: number; ok: false; error: string; code?: string };

// One libvips thread per worker: the workers are the parallelism.
sharp.concurrency(1);

/** Strict decode first; damaged data again without failing, as imread decodes it (with a warning). */
async function decodeAsImread(bytes: Uint8Array): Promise<{ img: RgbImage; warning?: string }> {
  try {
    return { img: await decodeImage(bytes) };
  } catch (strict) {
    if (!hasCode(strict) || strict.code !== 'IMAGE_UNREADABLE') throw strict;
    const img = await decodeImage(bytes, { failOn: 'none' }).catch(() => {
      throw strict;
    });
    return { img, warning: `damaged image data decoded as OpenCV's imread decodes it (${firstLine(messageOf(strict))})` };
  }
}

export async function handleAlignTask(task: AlignTask): Promise<AlignResult> {
  try {
    const { img, warning } = await decodeAsImread(task.bytes);
    const rgb = img.channels === 3 ? img : toRgb(img.data, img.width, img.height, img.channels);
    const landmarks = task.landmarks ?? (task.landmarksFile ? await readLandmarksJson(task.landmarksFile) : undefined);
    if (!landmarks) return { id: task.id, ok: true, data: Uint8Array.from(rgb.data), width: rgb.width, height: rgb.height, channels: 3, aligned: false, warning };
    const out = alignFace({ data: rgb.data, width: rgb.width, height: rgb.height, channels: 3 }, landmarks, { width: task.width, height: task.height });
    return { id: task.id, ok: true, data: out.data as Uint8Array, width: out.width, height: out.height, channels: 3, aligned: true, warning };
  } catch (err) {
    return { id: task.id, ok: false, error: `${task.path}: ${messageOf(err)}`, code: hasCode(err) ? err.code : undefined };
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}

function toRgb(data: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number) {
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const s = p * channels;
    out[p * 3] = data[s];
    out[p * 3 + 1] = channels === 1 ? data[s] : data[s + 1];
    out[p * 3 + 2] = channels === 1 ? data[s] : data[s + 2];
  }
  return { data: out, width, height, channels: 3 as const };
}

parentPort?.on('message', (task: AlignTask) => {
  void handleAlignTask(task).then((result) => {
    if (result.ok) parentPort?.postMessage(result, [result.data.buffer as ArrayBuffer]);
    else parentPort?.postMessage(result);
  });
});
