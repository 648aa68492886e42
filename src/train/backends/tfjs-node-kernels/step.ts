// Step (x > 0 ? 1 : alpha, NaN stays NaN) for tfjs-node: the ReLU gradient multiplies by it
// once per ReLU per training step. tfjs-node builds it from six kernels over the whole tensor
// (IsNan, Greater, ones, Fill, Select, Select: 9% of a resnet8 step on the CPU); for alpha 0,
// the case of ReLU, it is sign(relu(x)): two TensorFlow ops. Other alphas keep tfjs-node's kernel.
import type * as tf from '@tensorflow/tfjs';
import type { KernelWrapper } from '../register-kernels.js';
import { asNativeBackend } from './native-op.js';

export const stepWrapper: KernelWrapper = {
  kernelName: 'Step',
  backendName: 'tensorflow',
  wrap: (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const alpha = (args.attrs as { alpha?: number }).alpha ?? 0;
    if (alpha !== 0 || x.dtype !== 'float32') return original(args);
    const native = asNativeBackend(args.backend as tf.KernelBackend);
    const relu = native.executeSingleInput('Relu', x);
    try {
      return native.executeSingleInput('Sign', relu);
    } finally {
      relu.dispose();
    }
  },
};
