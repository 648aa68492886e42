// Device names and the execution providers each one tries, in this one place
// (as transformers.js maps `device` to ONNX Runtime execution providers).
import { InferError } from './infer-error.js';

export const DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

/** onnxruntime-node execution provider names we use. */
export type ExecutionProvider = 'cuda' | 'webgpu' | 'cpu';

/**
 * The providers tried, in order, for each device. `auto` prefers CUDA and falls back to CPU,
 * recording why CUDA was skipped; an explicit device tries only its own provider, so asking
 * for a GPU that cannot load is an error, never a silent CPU run. WebGPU is opt-in only: in
 * Node it runs through Dawn and is slower than CPU for small models on machines without a GPU.
 */
export const DEVICE_EXECUTION_PROVIDERS: Readonly<Record<Device, readonly ExecutionProvider[]>> = {
  auto: ['cuda', 'cpu'],
  cpu: ['cpu'],
  cuda: ['cuda'],
  webgpu: ['webgpu'],
};

/** What to do when a provider cannot load, shown after onnxruntime's own message. */
export const PROVIDER_HINTS: Readonly<Record<ExecutionProvider, string>> = {
  cuda:
    'the CUDA provider of onnxruntime-node is not installed or its libraries are missing ' +
    '(reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node; needs CUDA 12 and cuDNN 9)',
  webgpu: 'no WebGPU adapter is available on this machine (Vulkan/GPU driver missing?)',
  cpu: 'the model file could not be loaded by onnxruntime',
};

export function isDevice(name: unknown): name is Device {
  return typeof name === 'string' && (DEVICES as readonly string[]).includes(name);
}

/** Validates a --device value; throws `Unsupported device: "x". Should be one of: ...`. */
export function parseDevice(name: unknown): Device {
  if (isDevice(name)) return name;
  throw new InferError('UNSUPPORTED_DEVICE', `Unsupported device: "${String(name)}". Should be one of: ${DEVICES.join(', ')}`);
}
