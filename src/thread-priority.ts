// Lowers the scheduling priority of the calling thread alone. On Linux, setpriority(2) given a
// thread id changes only that thread, and threads it starts afterwards inherit the value (so
// onnxruntime's intra-op threads, created with the session, follow). Elsewhere it does nothing.
import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * Sets this thread's niceness to `nice` (0 to 19) unless it is already higher; returns the
 * niceness in effect, or undefined where threads cannot be told apart (not Linux).
 */
export function lowerThreadPriority(nice: number): number | undefined {
  if (process.platform !== 'linux' || nice <= 0) return undefined;
  const tid = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
  const current = getPriority(tid);
  if (nice > current) setPriority(tid, nice);
  return getPriority(tid);
}
