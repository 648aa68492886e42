// How many onnxruntime sessions a model runs, and with how many intra-op threads each, and
// whether it batches, when the configuration leaves them to us (`scheduler.workers` /
// `intra_op_threads` 0, `scheduler.batching` auto).
//
// On CPU, single-threaded sessions side by side do at least as well as one session whose threads
// share each run, and need no batch to do it: measured with scripts/bench/serve.ts on 2 cores,
// IResNet-50 at batch 1, 2 sessions x 1 thread ran 24-28 images/s, 1 session x 2 threads 20-25,
// and onnxruntime's own default thread count 11-14 (one core busy). So auto gives one session per
// core, capped (each session holds its own copy of the weights), and splits the cores among them.
// A GPU runs one session: more would only queue kernels on the same device.
//
// Micro-batching pays where one run of many images costs much less than as many runs of one: on
// a GPU. On CPU it did not: bare onnxruntime at batch 16 against batch 1 ran 0.94-1.16x, and
// protoserve with batching on against off 0.88-1.07x; while a finished batch answering all its
// clients at once held the event loop long enough to double /v2/health/live's p99 (15-24 ms
// against 10.5-10.6). So auto batches on every provider but the CPU.
import { availableParallelism } from 'node:os';

import type { BatchingMode } from '../config/server-config.js';
import type { ExecutionProvider } from './devices.js';

/** Sessions and intra-op threads per session, as asked (0: auto). */
export interface SessionRequest {
  workers: number;
  intraOpThreads: number;
}

export interface SessionPlan {
  sessions: number;
  intraOpThreads: number;
}

/** Most sessions auto gives one model on CPU: beyond it, more mostly multiplies memory. */
export const MAX_AUTO_CPU_SESSIONS = 4;

/**
 * The plan for a model whose sessions run on `provider`. Intra-op threads (auto) are the CPU
 * plan's share of the cores in every case: the first session starts before the provider is
 * known (device auto), and on a GPU those threads run only the nodes left to the CPU.
 */
export function planSessions(asked: SessionRequest, provider: ExecutionProvider, cores = availableParallelism()): SessionPlan {
  const cpuSessions = asked.workers > 0 ? asked.workers : Math.max(1, Math.min(cores, MAX_AUTO_CPU_SESSIONS));
  const intraOpThreads = asked.intraOpThreads > 0 ? asked.intraOpThreads : Math.max(1, Math.floor(cores / cpuSessions));
  const sessions = provider === 'cpu' ? cpuSessions : asked.workers > 0 ? asked.workers : 1;
  return { sessions, intraOpThreads };
}

/** Whether a model run by `provider` gathers requests into batches. */
export function planBatching(mode: BatchingMode, provider: ExecutionProvider): boolean {
  return mode === 'auto' ? provider !== 'cpu' : mode === 'on';
}
