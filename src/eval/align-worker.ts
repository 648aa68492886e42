// Worker thread of the evaluator's image pipeline: reads an image file, decodes it to 8-bit RGB
// (EXIF orientation applied, as cv2.imread does), reads its landmarks when they are in a side
// file, and aligns it onto the ArcFace template. The pixels go back to the main thread, which
// batches them for onnxruntime.
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';

import sharp from 'sharp';

import { messageOf } from '../errors.js';
import { alignFace } from '../infer/face-align.js';
import { decodeImage } from '../infer/preprocess.js';
import { readLandmarksJson } from './landmarks-json.js';

export interface AlignTask {
  id: number;
  path: string;
  landmarks?: Float64Array;
  landmarksFile?: string;
  /** Side of the aligned square (the model's input size). */
  size: number;
}

export type AlignResult =
  | { id: number; ok: true; data: Uint8Array; width: number; height: number; channels: number; aligned: boolean }
  | { id: number; ok: false; error: string; code?: string };

// One libvips thread per worker: the workers are the parallelism.
sharp.concurrency(1);

async function handle(task: AlignTask): Promise<AlignResult> {
  try {
    const bytes = await readFile(task.path);
    const img = await decodeImage(bytes);
    const rgb = img.channels === 3 ? img : toRgb(img.data, img.width, img.height, img.channels);
    const landmarks = task.landmarks ?? (task.landmarksFile ? await readLandmarksJson(task.landmarksFile) : undefined);
    if (!landmarks) return { id: task.id, ok: true, data: Uint8Array.from(rgb.data), width: rgb.width, height: rgb.height, channels: 3, aligned: false };
    const out = alignFace({ data: rgb.data, width: rgb.width, height: rgb.height, channels: 3 }, landmarks, task.size);
    return { id: task.id, ok: true, data: out.data as Uint8Array, width: out.width, height: out.height, channels: 3, aligned: true };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { id: task.id, ok: false, error: `${task.path}: ${messageOf(err)}`, code: typeof code === 'string' ? code : undefined };
  }
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
  void handle(task).then((result) => {
    if (result.ok) parentPort?.postMessage(result, [result.data.buffer as ArrayBuffer]);
    else parentPort?.postMessage(result);
  });
});
