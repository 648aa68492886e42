// tfjs's plain JavaScript backend: always available, and the slowest (about 100x below wasm for
// a small CNN). The last resort, and the reference the wasm kernels are tested against.
import * as tf from '@tensorflow/tfjs';
import type { TrainingBackend } from './training-backend.js';
import { activate } from './activate.js';

export const cpuBackend: TrainingBackend = {
  name: 'cpu',
  priority: 10,
  tfjsName: 'cpu',
  async load() {
    await activate('cpu');
    // The cpu backend prints a multi-line "install tfjs-node" banner on first use; our resolution
    // line already says why the faster backends are not running.
    const backend = tf.backend() as { firstUse?: boolean };
    if (backend.firstUse) backend.firstUse = false;
  },
  describe: () => 'cpu (plain JavaScript)',
};
