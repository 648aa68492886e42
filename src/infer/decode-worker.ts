// Worker thread of the DecodePool: decodes images with sharp (EXIF orientation, pixel limit),
// resizes them to a model's input and fills its tensor in the shared slot it is given, or aligns
// faces onto the ArcFace template, off the main thread. Other results go back as transferred
// buffers.
import { parentPort } from 'node:worker_threads';

import sharp from 'sharp';

import { hasCode, messageOf } from '../errors.js';
import type { DecodeReply, DecodeTask } from './decode-pool.js';
import { alignFace } from './face-align.js';
import { decodeImage, imageToTensor, preprocessImage } from './preprocess.js';

// One libvips thread per worker (the workers are the parallelism), and no operation cache:
// every request brings a different image, and a cache would only hold memory.
sharp.concurrency(1);
sharp.cache(false);

const port = parentPort!;

async function handle(task: DecodeTask): Promise<{ reply: DecodeReply; transfer: ArrayBuffer[] }> {
  const options = { maxPixels: task.maxPixels };
  switch (task.kind) {
    case 'tensor': {
      await preprocessImage(task.bytes, task.input, options, task.into);
      return { reply: { id: task.id, ok: true, kind: 'tensor' }, transfer: [] };
    }
    case 'decode': {
      const img = await decodeImage(task.bytes, options);
      const data = Uint8Array.from(img.data);
      return { reply: { id: task.id, ok: true, kind: 'decode', image: { ...img, data } }, transfer: [data.buffer] };
    }
    case 'align': {
      const img = await decodeImage(task.bytes, options);
      const tensors = task.faces.map((landmarks) => {
        const crop = alignFace(img, landmarks, task.input.width);
        return imageToTensor({ ...crop, channels: img.channels }, task.input);
      });
      return { reply: { id: task.id, ok: true, kind: 'align', tensors }, transfer: tensors.map((t) => t.buffer as ArrayBuffer) };
    }
  }
}

port.on('message', (task: DecodeTask) => {
  void handle(task).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer),
    (err: unknown) => port.postMessage({ id: task.id, ok: false, code: hasCode(err) ? err.code : 'IMAGE_UNREADABLE', message: messageOf(err) } satisfies DecodeReply),
  );
});
