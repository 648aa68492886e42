// One bounded load run with autocannon against a running server (loopback only): a fixed
// number of requests (or a fixed duration, whichever ends first), N concurrent connections,
// each request one image. Tallies the answers by status, checks that every 503 is a deliberate
// one (OVERLOADED with Retry-After), and measures the server process's memory after a full GC.
// Shared by the short load test in npm test and scripts/bench/load.ts.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import autocannon from 'autocannon';

export interface LoadRunOptions {
  /** e.g. http://127.0.0.1:8080/v1/models/x/classify */
  url: string;
  image: Buffer;
  contentType: string;
  connections: number;
  /** Requests in all. */
  amount: number;
  /** Upper bound on the run, seconds. */
  maxSeconds: number;
}

export interface LoadRunResult {
  requests: number;
  /** Answers by HTTP status. */
  statuses: Record<number, number>;
  /** Transport errors and timeouts (connection refused/reset, no answer). */
  errors: number;
  timeouts: number;
  /** 503s that were not OVERLOADED/MODEL_UNAVAILABLE with a Retry-After header. */
  bad503: number;
  /** Other non-2xx answers (anything but 200 and deliberate 503s). */
  unexpected: number;
  requestsPerSecond: number;
  latencyP99Ms: number;
}

export async function loadRun(options: LoadRunOptions): Promise<LoadRunResult> {
  const host = new URL(options.url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1' && host !== '[::1]') throw new Error(`loadRun: loopback only, got ${host}`);
  let bad503 = 0;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    amount: options.amount,
    duration: options.maxSeconds,
    timeout: options.maxSeconds,
    method: 'POST',
    headers: { 'content-type': options.contentType },
    body: options.image,
    requests: [
      {
        onResponse: (status: number, body: string, _context: unknown, headers: Record<string, string>) => {
          if (status !== 503) return;
          const code = /"code":"([A-Z_]+)"/.exec(body)?.[1];
          const retryAfter = Object.entries(headers).find(([name]) => name.toLowerCase() === 'retry-after')?.[1];
          if (!(code === 'OVERLOADED' && Number(retryAfter) >= 1)) bad503++;
        },
      },
    ] as autocannon.Request[],
  });
  const statuses: Record<number, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats as Record<string, { count: number }>)) statuses[Number(code)] = count;
  const unexpected = Object.entries(statuses).reduce((n, [code, count]) => (code === '200' || code === '503' ? n : n + count), 0);
  return {
    requests: result.requests.total,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    bad503,
    unexpected,
    requestsPerSecond: result.requests.average,
    latencyP99Ms: result.latency.p99,
  };
}

/** Bytes the process holds in its JS heap and array buffers after a full garbage collection. */
export function retainedBytes(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
