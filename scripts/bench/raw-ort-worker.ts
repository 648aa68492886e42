// Worker of scripts/bench/serve.ts: one bare onnxruntime session running batch after batch of
// one fixed input (the server's own input tensor of the bench image, repeated `batch` times) for
// a fixed time; reports the images it ran. Several at once measure concurrent sessions.
import { parentPort, workerData } from 'node:worker_threads';

import ort from 'onnxruntime-node';

const { modelPath, threads, batch, seconds, inputName, dims, item } = workerData as { modelPath: string; threads: number; batch: number; seconds: number; inputName: string; dims: number[]; item: Float32Array };
const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], ...(threads > 0 ? { intraOpNumThreads: threads } : {}) });
const data = new Float32Array(batch * item.length);
for (let i = 0; i < batch; i++) data.set(item, i * item.length);
const tensor = new ort.Tensor('float32', data, [batch, ...dims]);
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
