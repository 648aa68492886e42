// Worker of scripts/bench/serve.ts: one bare onnxruntime session running batch after batch of
// one fixed input for a fixed time; reports the images it ran. Several at once measure
// concurrent sessions.
import { parentPort, workerData } from 'node:worker_threads';

import ort from 'onnxruntime-node';

const { modelPath, threads, batch, seconds, inputName, dims } = workerData as { modelPath: string; threads: number; batch: number; seconds: number; inputName: string; dims: number[] };
const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], ...(threads > 0 ? { intraOpNumThreads: threads } : {}) });
const shape = [batch, ...dims];
const tensor = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.1), shape);
await session.run({ [inputName]: tensor });
parentPort!.postMessage({ type: 'ready' });
parentPort!.once('message', async () => {
  let images = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await session.run({ [inputName]: tensor });
    images += batch;
  }
  const elapsed = (performance.now() - t0) / 1000;
  await session.release();
  parentPort!.postMessage({ type: 'done', images, seconds: elapsed });
});
