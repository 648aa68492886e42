// Kernels of tfjs-node's 'tensorflow' backend (tfjs-node and tfjs-node-gpu alike) replaced for
// training (wrong or slow there): registered by the native training backends when they load.
import type * as tf from '@tensorflow/tfjs';
import { replaceKernels, wrapKernels, type KernelWrapper } from '../register-kernels.js';
import { CONV_GRADIENT_KERNELS } from './conv-backprop.js';
import { stepWrapper } from './step.js';

/** Kernels tfjs-node 4.22 has but computes wrongly for our nets (see each file). */
export const TFJS_NODE_REPLACED_KERNELS: readonly tf.KernelConfig[] = CONV_GRADIENT_KERNELS;

/** Kernels tfjs-node has, wrapped with a fast path for the cases training runs. */
export const TFJS_NODE_WRAPPED_KERNELS: readonly KernelWrapper[] = [stepWrapper];

/** Registers our tfjs-node kernels; returns the names registered by this call (none the second time). */
export function registerTfjsNodeTrainingKernels(): string[] {
  return [...replaceKernels(TFJS_NODE_REPLACED_KERNELS), ...wrapKernels(TFJS_NODE_WRAPPED_KERNELS)];
}
