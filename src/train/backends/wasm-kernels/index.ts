// Gradient kernels that tfjs 4.22's wasm backend lacks, registered on demand.
//
// Other gaps in tfjs 4.22, measured, that these kernels do not address:
// - StridedSlice has no gradient on any backend: use tf.slice (its gradient is a pad) in nets.
// - tf.batchNorm's gradient needs both offset and scale tensors: pass zeros/ones, not undefined.
// - Conv2D and DepthwiseConv2dNative gradients refuse dilation > 1 (in tfjs-core, every backend).
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseConv2dBackpropFilterConfig } from './depthwise-conv2d-backprop-filter.js';
import { depthwiseConv2dBackpropInputConfig } from './depthwise-conv2d-backprop-input.js';
import { identityConfig } from './identity.js';
import { meanWrapper, sumWrapper } from './leading-axes-reduce.js';
import { sliceWrapper } from './slice.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';
import { registerMissingKernels, replaceKernels, wrapKernels, type KernelWrapper } from '../register-kernels.js';

/** Kernels tfjs 4.22's wasm backend does not have at all. */
export const WASM_MISSING_KERNELS: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/** Kernels the wasm backend has, replaced because ours are much faster (see each file). */
export const WASM_REPLACED_KERNELS: readonly tf.KernelConfig[] = [conv2dBackpropInputConfig, identityConfig];

/** Kernels the wasm backend has, wrapped with a fast path for the cases that are slow in training. */
export const WASM_WRAPPED_KERNELS: readonly KernelWrapper[] = [sliceWrapper, sumWrapper, meanWrapper];

/**
 * Registers our wasm kernels; returns the names registered by this call (none the second time).
 * A missing kernel that is already there (a native one from a newer tfjs) is left alone.
 */
export function registerWasmTrainingKernels(): string[] {
  return [
    ...registerMissingKernels(WASM_MISSING_KERNELS),
    ...replaceKernels(WASM_REPLACED_KERNELS),
    ...wrapKernels(WASM_WRAPPED_KERNELS),
  ];
}

export { conv2dFilterGradient } from './conv2d-backprop-filter.js';
export { conv2dInputGradient } from './conv2d-backprop-input.js';
export { depthwiseConv2dFilterGradient } from './depthwise-conv2d-backprop-filter.js';
export { depthwiseConv2dInputGradient } from './depthwise-conv2d-backprop-input.js';
export { unsortedSegmentSumByScatter } from './unsorted-segment-sum.js';
export { mergeSliceAxes } from './slice.js';
