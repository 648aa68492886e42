// Kernels of tfjs 4.22's cpu backend that we replace because they make training far slower than
// it needs to be (see each file), registered when the cpu training backend loads. The op-level
// code (nets, losses) is the same on every backend and does not know.
import * as tf from '@tensorflow/tfjs';
import { ARITHMETIC_KERNELS, arithmeticKernelConfig } from './binary-arithmetic.js';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { depthwiseConv2dBackpropFilterConfig } from './depthwise-conv2d-backprop-filter.js';
import { reduceKernelConfig } from './reduce.js';
import { replaceKernels } from '../register-kernels.js';
import { InvariantError } from '../../../errors.js';

let replacements: readonly tf.KernelConfig[] | undefined;

/** tfjs's own cpu kernel function of this name (before ours replace it). */
function stock(kernelName: string): tf.KernelFunc {
  const config = tf.getKernel(kernelName, 'cpu');
  if (config == null) throw new InvariantError(`tfjs's cpu backend has no ${kernelName} kernel`);
  return config.kernelFunc;
}

/** Our cpu kernels, in the order registered. Built on first use (see registerCpuTrainingKernels). */
export function cpuTrainingKernels(): readonly tf.KernelConfig[] {
  // Built once, while tfjs's kernels are still the registered ones: some of ours hand the cases
  // they do not cover (dtypes other than float32) to those.
  replacements ??= [
    conv2dBackpropFilterConfig,
    depthwiseConv2dBackpropFilterConfig,
    ...ARITHMETIC_KERNELS.map((name) => arithmeticKernelConfig(name, stock(name))),
    reduceKernelConfig('Sum', stock('Sum')),
    reduceKernelConfig('Mean', stock('Mean')),
  ];
  return replacements;
}

/** Registers our cpu kernels in place of tfjs's; returns the names registered by this call. */
export function registerCpuTrainingKernels(): string[] {
  return replaceKernels(cpuTrainingKernels());
}
