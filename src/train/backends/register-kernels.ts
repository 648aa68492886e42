// Registering our kernels with tfjs's global kernel registry, for the wasm, cpu and tfjs-node kernel sets.
// A kernel is looked up by (kernel name, backend name) each time an op runs, so registering ours
// changes what every op on that backend computes, with no change to the code that calls the op.
import * as tf from '@tensorflow/tfjs';

/**
 * Registers the kernels a backend lacks; returns the names registered by this call. One the
 * backend already has (ours from an earlier call, or a native one from a newer tfjs) is left alone.
 */
export function registerMissingKernels(configs: readonly tf.KernelConfig[]): string[] {
  const registered: string[] = [];
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, config.backendName) != null) continue;
    tf.registerKernel(config);
    registered.push(config.kernelName);
  }
  return registered;
}

/**
 * Registers kernels in place of the backend's own; returns the names registered by this call
 * (none the second time).
 */
export function replaceKernels(configs: readonly tf.KernelConfig[]): string[] {
  const registered: string[] = [];
  for (const config of configs) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current === config) continue;
    // Unregister first: registering over an existing kernel works but logs a warning.
    if (current != null) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
    registered.push(config.kernelName);
  }
  return registered;
}

/**
 * A kernel that handles some cases itself and hands the rest to the backend's own kernel, which
 * it receives when it is registered (e.g. a fast path for one layout).
 */
export interface KernelWrapper {
  kernelName: string;
  backendName: string;
  wrap(original: tf.KernelFunc): tf.KernelFunc;
}

const wrappedFuncs = new WeakSet<tf.KernelFunc>();

/**
 * Registers each wrapper around the kernel registered now under its name, keeping that kernel's
 * setup and dispose functions; returns the names wrapped by this call (none the second time).
 * A kernel the backend lacks is not wrapped.
 */
export function wrapKernels(wrappers: readonly KernelWrapper[]): string[] {
  const registered: string[] = [];
  for (const w of wrappers) {
    const current = tf.getKernel(w.kernelName, w.backendName);
    if (current == null || wrappedFuncs.has(current.kernelFunc)) continue;
    const kernelFunc = w.wrap(current.kernelFunc);
    wrappedFuncs.add(kernelFunc);
    tf.unregisterKernel(w.kernelName, w.backendName);
    tf.registerKernel({ ...current, kernelFunc });
    registered.push(w.kernelName);
  }
  return registered;
}
