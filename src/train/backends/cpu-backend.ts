// tfjs's plain JavaScript backend: always available, and the slowest. The last resort, and the
// reference the wasm kernels are tested against. Some of its kernels are replaced by ours
// (./cpu-kernels): with them the benchmark CNN trains at 35 images/s (1.4 without; wasm: 475).
import * as tf from '@tensorflow/tfjs';
import type { TrainingBackend } from './training-backend.js';
import { activate } from './activate.js';
import { registerCpuTrainingKernels } from './cpu-kernels/index.js';

export const cpuBackend: TrainingBackend = {
  name: 'cpu',
  priority: 10,
  tfjsName: 'cpu',
  async load() {
    registerCpuTrainingKernels();
    await activate('cpu');
    // The cpu backend prints a multi-line "install tfjs-node" banner on first use; our resolution
    // line already says why the faster backends are not running.
    const backend = tf.backend() as { firstUse?: boolean };
    if (backend.firstUse) backend.firstUse = false;
  },
  describe: () => 'cpu (plain JavaScript)',
};
