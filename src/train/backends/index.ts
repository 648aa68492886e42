export { resolveTrainingBackend } from './resolve-training-backend.js';
export type {
  ResolvedTrainingBackend,
  ResolveTrainingBackendOptions,
  UnavailableBackend,
} from './resolve-training-backend.js';
export { TRAINING_BACKEND_NAMES, isTrainingBackendName } from './training-backend.js';
export type { TrainingBackend, TrainingBackendName } from './training-backend.js';
export { TrainingBackendError } from './training-backend-error.js';
export type { TrainingBackendErrorCode } from './training-backend-error.js';
export { registerWasmTrainingKernels } from './wasm-kernels/index.js';
