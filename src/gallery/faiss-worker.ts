// The faiss worker thread: owns every gallery's PrototypeIndex, so searches over a million
// prototypes never block the server's event loop. Requests are answered in arrival order, so a
// search sees every upsert sent before it. One thread per process (see faiss-addon.ts).
import { parentPort } from 'node:worker_threads';

import { InvariantError, messageOf } from '../errors.js';
import { loadFaissAddon, type FaissAddon } from './faiss-addon.js';
import { GalleryError } from './gallery-error.js';
import type { IndexSpec } from './gallery-store.js';
import { PrototypeIndex } from './prototype-index.js';

export type WorkerRequest =
  | { seq: number; op: 'hello' }
  | { seq: number; op: 'create'; store: number; dimension: number; spec: IndexSpec }
  | { seq: number; op: 'upsert'; store: number; keys: string[]; vectors: Float32Array; defer: boolean }
  | { seq: number; op: 'remove'; store: number; keys: string[] }
  | { seq: number; op: 'search'; store: number; queries: Float32Array; k: number }
  | { seq: number; op: 'get'; store: number; keys: string[] }
  | { seq: number; op: 'flush' | 'stats' | 'drop'; store: number };

export type WorkerReply = { seq: number; ok: true; value: unknown } | { seq: number; ok: false; code: string; message: string };

const port = parentPort;
if (!port) throw new InvariantError('faiss-worker.ts runs in a worker thread (see faiss-store.ts)');

let addon: FaissAddon | undefined;
let loadError: GalleryError | undefined;
try {
  addon = loadFaissAddon();
} catch (err) {
  loadError = err instanceof GalleryError ? err : new GalleryError('FAISS_UNAVAILABLE', messageOf(err));
}
const stores = new Map<number, PrototypeIndex>();

function storeOf(id: number): PrototypeIndex {
  const store = stores.get(id);
  if (!store) throw new InvariantError(`faiss worker: no store ${id} (closed?)`);
  return store;
}

function handle(req: WorkerRequest): unknown {
  if (loadError) throw loadError;
  switch (req.op) {
    case 'hello':
      return true;
    case 'create':
      if (stores.has(req.store)) throw new InvariantError(`faiss worker: store ${req.store} exists`);
      stores.set(req.store, new PrototypeIndex(addon as FaissAddon, req.dimension, req.spec));
      return true;
    case 'upsert':
      return storeOf(req.store).upsert(req.keys, req.vectors, req.defer);
    case 'remove':
      return storeOf(req.store).remove(req.keys);
    case 'search':
      return storeOf(req.store).search(req.queries, req.k);
    case 'get':
      return storeOf(req.store).get(req.keys);
    case 'flush':
      return storeOf(req.store).flush();
    case 'stats':
      return storeOf(req.store).stats();
    case 'drop':
      return stores.delete(req.store);
  }
}

port.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { seq: req.seq, ok: true, value: handle(req) };
  } catch (err) {
    reply = { seq: req.seq, ok: false, code: err instanceof GalleryError ? err.code : 'INTERNAL', message: messageOf(err) };
  }
  port.postMessage(reply);
});
