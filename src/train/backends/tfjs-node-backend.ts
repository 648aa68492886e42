// TensorFlow's C library through its Node addon: @tensorflow/tfjs-node (CPU, multi-threaded,
// oneDNN) and @tensorflow/tfjs-node-gpu (CUDA). Both register the tfjs backend 'tensorflow'.
// Neither is a dependency of protoserve: installing one (at the version of @tensorflow/tfjs,
// 4.22.0) is how a user opts in (scripts/setup/build-tfjs-node.mjs builds tfjs-node without the
// libtensorflow download). Both need our convolution gradients (./tfjs-node-kernels) to train.
import * as tf from '@tensorflow/tfjs';
import type { TrainingBackend, TrainingBackendName } from './training-backend.js';
import { activate } from './activate.js';
import { registerTfjsNodeTrainingKernels } from './tfjs-node-kernels/index.js';
import { TrainingBackendError } from './training-backend-error.js';

interface NativeBackendOptions {
  name: TrainingBackendName;
  packageName: string;
  priority: number;
  /** tfjs-node-gpu loads even where TensorFlow sees no GPU, and then silently computes on CPU. */
  requireGpu: boolean;
}

function nativeBackend({ name, packageName, priority, requireGpu }: NativeBackendOptions): TrainingBackend {
  let imported: Promise<void> | undefined;
  const importPackage = async (): Promise<void> => {
    // A variable specifier keeps TypeScript from requiring the package's types at build time.
    const specifier: string = packageName;
    const mod = (await import(specifier)) as { version?: Record<string, string> };
    if (tf.findBackendFactory('tensorflow') == null) {
      // The addon registers its backend with the @tensorflow/tfjs-core it depends on; when that
      // is a second copy (version mismatch), our tf never sees it.
      const theirs = mod.version?.['tfjs-core'] ?? 'unknown';
      throw new TrainingBackendError('BACKEND_UNAVAILABLE', 
        `${packageName} loaded, but registered its 'tensorflow' backend with another copy of ` +
          `@tensorflow/tfjs-core (${theirs}; ours is ${tf.version_core}): install ${packageName}@${tf.version_core}`,
      );
    }
  };
  return {
    name,
    priority,
    tfjsName: 'tensorflow',
    installHint: `npm install ${packageName}@${tf.version_core}`,
    async load() {
      imported ??= importPackage();
      await imported;
      registerTfjsNodeTrainingKernels();
      await activate('tensorflow');
      const backend = tf.backend() as { isGPUPackage?: boolean; isUsingGpuDevice?: boolean };
      if (requireGpu && backend.isUsingGpuDevice === false) {
        throw new TrainingBackendError('BACKEND_UNAVAILABLE', `${packageName} loaded, but TensorFlow sees no GPU device (it would compute on the CPU)`);
      }
    },
    describe() {
      const backend = tf.findBackend('tensorflow') as { isUsingGpuDevice?: boolean } | null;
      const device = backend?.isUsingGpuDevice ? 'GPU' : 'CPU';
      return `${name} (TensorFlow C library on ${device})`;
    },
  };
}

export const tfjsNodeGpuBackend = nativeBackend({
  name: 'tfjs-node-gpu',
  packageName: '@tensorflow/tfjs-node-gpu',
  priority: 40,
  requireGpu: true,
});

export const tfjsNodeBackend = nativeBackend({
  name: 'tfjs-node',
  packageName: '@tensorflow/tfjs-node',
  priority: 30,
  requireGpu: false,
});
