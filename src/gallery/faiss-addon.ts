// faiss-node's addon, as `npm ci` builds it (scripts/setup/build-faiss-node.mjs): loaded from
// node_modules/.protoserve/faiss-node/, with the Float32Array methods our patch adds. Only the
// gallery's worker thread loads it (faiss-worker.ts): the addon keeps one constructor per
// process, so two threads that load it would corrupt each other's indexes.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { InvariantError, messageOf } from '../errors.js';
import { GalleryError } from './gallery-error.js';

export const METRIC_INNER_PRODUCT = 0;

/** The methods protoserve uses (the patched ones validate and never abort the process). */
export interface FaissIndex {
  ntotal(): number;
  getDimension(): number;
  isTrained(): boolean;
  addFloat32(x: Float32Array): void;
  trainFloat32(x: Float32Array): void;
  searchFloat32(x: Float32Array, k: number): { distances: Float32Array; labels: Float64Array };
  setParameter(name: string, value: number): void;
}

export interface FaissAddon {
  Index: { fromFactory(dimension: number, descriptor: string, metric: number): FaissIndex };
}

/** Where npm ci puts the addon (PROTOSERVE_FAISS_ADDON overrides, e.g. for another build). */
export function faissAddonPath(): string {
  return process.env.PROTOSERVE_FAISS_ADDON ?? fileURLToPath(new URL('../../node_modules/.protoserve/faiss-node/faiss-node.node', import.meta.url));
}

/** Loads the addon, or throws FAISS_UNAVAILABLE saying why and what to run. */
export function loadFaissAddon(): FaissAddon {
  const path = faissAddonPath();
  const rebuild = 'run `npm ci` (it builds faiss-node; see scripts/setup/build-faiss-node.mjs), or `node scripts/setup/build-faiss-node.mjs --force`';
  if (!existsSync(path)) throw new GalleryError('FAISS_UNAVAILABLE', `faiss-node is not built (${path} is missing): ${rebuild}`);
  try {
    const addon = createRequire(import.meta.url)(path) as FaissAddon;
    if (typeof addon?.Index?.fromFactory !== 'function') throw new InvariantError('it does not export Index.fromFactory');
    const probe = addon.Index.fromFactory(1, 'Flat', METRIC_INNER_PRODUCT) as Partial<FaissIndex>;
    if (typeof probe.searchFloat32 !== 'function') throw new InvariantError('it lacks protoserve\'s Float32Array methods (an unpatched build)');
    return addon;
  } catch (err) {
    throw new GalleryError('FAISS_UNAVAILABLE', `faiss-node does not load from ${path}: ${messageOf(err)}; ${rebuild}`, { cause: err });
  }
}
