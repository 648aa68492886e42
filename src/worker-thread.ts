// Starts a worker thread on a module of ours. Built (dist/) the module is plain .js; run from
// source through tsx, the worker gets tsx's loader first (a worker does not inherit --import
// hooks everywhere), so the same code runs both ways.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * `caller` is the starting module's import.meta.url; `name` the worker module's path relative
 * to it without extension (e.g. './faiss-worker').
 */
export function startWorker(caller: string, name: string, options: WorkerOptions = {}): Worker {
  if (!caller.endsWith('.ts')) return new Worker(new URL(`${name}.js`, caller), options);
  const target = new URL(`${name}.ts`, caller).href;
  const api = import.meta.resolve('tsx/esm/api');
  const boot =
    `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(target)}); })` +
    `.catch((err) => { console.error(err); process.exit(1); });`;
  return new Worker(boot, { ...options, eval: true });
}
