// Running one TensorFlow op through tfjs-node's kernel backend ('tensorflow'), typed by what we
// use of it. tfjs-node is an optional package, so nothing here imports it: a kernel receives the
// backend object and calls the two members below, which tfjs-node 4.x's NodeJSKernelBackend has
// (its own kernels are written the same way, dist/kernels/*.js).
import * as tf from '@tensorflow/tfjs';
import { InvariantError } from '../../../errors.js';

/** The attribute of a TensorFlow op as tfjs-node's binding takes it (TFE_OpSetAttr*). */
export interface NativeOpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[];
}

interface NativeKernelBackend extends tf.KernelBackend {
  binding: {
    TF_ATTR_BOOL: number;
    TF_ATTR_INT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_TYPE: number;
    TF_FLOAT: number;
  };
  /** Runs the op eagerly (TFE_Execute) and returns its output, registered with the engine. */
  executeSingleOutput(name: string, attrs: NativeOpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  /** The same for a one-input op whose only attribute is its type T. */
  executeSingleInput(name: string, input: tf.TensorInfo): tf.Tensor;
}

export function asNativeBackend(backend: tf.KernelBackend): NativeKernelBackend {
  const b = backend as Partial<NativeKernelBackend>;
  if (typeof b.executeSingleOutput !== 'function' || typeof b.executeSingleInput !== 'function' || b.binding == null) {
    throw new InvariantError("tfjs-node kernel called on a backend that is not tfjs-node's 'tensorflow' backend");
  }
  return backend as NativeKernelBackend;
}
