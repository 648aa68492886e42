// tfjs's WebAssembly backend (XNNPACK kernels, SIMD) plus the gradient kernels it lacks for
// training (./wasm-kernels). Single-threaded under Node, see below.
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import type { TrainingBackend } from './training-backend.js';
import { activate } from './activate.js';
import { registerWasmTrainingKernels } from './wasm-kernels/index.js';

// Why one thread (measured with tfjs 4.22, Node 20, on a 2-core machine):
// - As shipped, tfjs never starts threads under Node: WASM_HAS_MULTITHREAD_SUPPORT is hard-wired
//   false there (tfjs issue #3830), and its threaded loader hands Emscripten blob: URLs for the
//   worker and main scripts, which Node's worker_threads cannot load.
// - It can be made to run: replace the 'wasm' backend factory with one that loads
//   wasm-out/tfjs-backend-wasm-threaded-simd.js by path, writes the worker script (exported as a
//   string by wasm-out/tfjs-backend-wasm-threaded-simd.worker.js, with "\n" re-escaped) to a
//   temporary .cjs file returned from locateFile, passes the main script's file path as
//   mainScriptUrlOrBlob, and unref()s the 8 pthread workers (else the process never exits).
//   Gradients then match the cpu backend.
// - But the C++ side caps XNNPACK's pool at os.cpus().length / 2 threads whatever
//   setThreadsCount asks for: 1 thread on 2 cores. Forcing 2 (by faking os.cpus during init) made
//   a training step slower here (about 320 ms against 240 ms), the spinning workers competing with
//   the main thread for 2 busy cores.
// So it stays off: the gain is unproven, and the loader depends on the package's internal file
// layout. Worth re-measuring on a machine with 8+ idle cores.

let imported: Promise<typeof import('@tensorflow/tfjs-backend-wasm')> | undefined;

async function importWasmBackend(): Promise<typeof import('@tensorflow/tfjs-backend-wasm')> {
  // Imported on demand: the package registers 'wasm' with a priority above 'cpu' the moment it
  // is imported, which would change tfjs's default backend for every importer of this module.
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Under Node the backend looks for its .wasm files next to the calling script unless told;
  // point it at the package's dist folder. Only possible before the backend first initializes.
  // (Not guarded by tf.findBackend('wasm'): that call would start initializing the backend.)
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(dist + sep);
  return wasm;
}

let simd: boolean | undefined;

export const wasmBackend: TrainingBackend = {
  name: 'wasm',
  priority: 20,
  tfjsName: 'wasm',
  async load() {
    imported ??= importWasmBackend();
    await imported;
    registerWasmTrainingKernels();
    await activate('wasm');
    simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') as boolean;
  },
  describe() {
    return `wasm (${simd ? 'SIMD' : 'no SIMD: several times slower'}, 1 thread)`;
  },
};
