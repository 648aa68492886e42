// A stand-in for @tensorflow/tfjs-node where it is not installed: like the real addon, importing it
// registers a tfjs backend named 'tensorflow' (here computing with tfjs's cpu kernels) with the
// project's @tensorflow/tfjs-core, and exports `version`. STAND_IN_GPU=0|1 sets isUsingGpuDevice
// as tfjs-node-gpu's backend reports it.
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

class StandInBackend extends MathBackendCPU {
  isUsingGpuDevice = process.env.STAND_IN_GPU === '1';
}
tf.registerBackend('tensorflow', () => new StandInBackend(), 3);
for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: 'tensorflow' });

export const version = { 'tfjs-core': tf.version_core, 'tfjs-node': 'stand-in' };
