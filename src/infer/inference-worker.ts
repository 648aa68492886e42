// Worker thread of a WorkerExecutor: holds one onnxruntime session of one model and runs the
// batches the main thread sends it. A batch's items arrive as views (of shared memory where a
// decode worker wrote them) and are packed here, off the main thread; results go back as
// transferred buffers (no copy).
import { parentPort, workerData } from 'node:worker_threads';

import { hasCode, messageOf } from '../errors.js';
import { lowerThreadPriority } from '../thread-priority.js';
import { packItems } from './executor.js';
import { ModelSession } from './model-session.js';
import type { InferenceWorkerData, WorkerReply, WorkerRequest } from './worker-executor.js';

const data = workerData as InferenceWorkerData;
const port = parentPort!;

function failure(err: unknown): { code: string; message: string } {
  return { code: hasCode(err) ? err.code : 'INFERENCE_FAILED', message: messageOf(err) };
}

// Before the session exists, so onnxruntime's own threads inherit it.
lowerThreadPriority(data.nice);
let session: ModelSession;
try {
  session = await ModelSession.create(
    { manifest: data.manifest, modelPath: data.modelPath, bytes: data.bytes },
    { device: data.device, sessionOptions: { intraOpNumThreads: data.intraOpThreads } },
  );
  const ready: WorkerReply = { type: 'ready', provider: session.provider, device: session.device, attempts: session.attempts, maxBatch: session.maxBatch };
  port.postMessage(ready);
} catch (err) {
  port.postMessage({ type: 'failed', ...failure(err) } satisfies WorkerReply);
  port.close();
}

port.on('message', (msg: WorkerRequest) => {
  if (msg.type === 'release') {
    void session.release().finally(() => port.close());
    return;
  }
  void session.run(packItems(msg.items), msg.items.length).then(
    (rows) => {
      const dim = rows[0]?.length ?? 0;
      const out = new Float32Array(rows.length * dim);
      rows.forEach((row, i) => out.set(row, i * dim));
      port.postMessage({ type: 'result', id: msg.id, data: out, dim } satisfies WorkerReply, [out.buffer]);
    },
    (err: unknown) => port.postMessage({ type: 'error', id: msg.id, ...failure(err) } satisfies WorkerReply),
  );
});
