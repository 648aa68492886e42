import * as tf from '@tensorflow/tfjs';
import { TrainingBackendError } from './training-backend-error.js';

/**
 * Makes a registered tfjs backend the active one and waits for it. tf.setBackend reports a
 * failed initialization by returning false (after a console warning), not by throwing: turn that
 * into an error the resolver can record.
 */
export async function activate(tfjsName: string): Promise<void> {
  if (tf.findBackendFactory(tfjsName) == null) {
    throw new TrainingBackendError('BACKEND_UNAVAILABLE', `tfjs has no backend named '${tfjsName}' registered`);
  }
  // engine().backendName, not tf.getBackend(): the latter would first initialize a default backend.
  if (tf.engine().backendName === tfjsName) return;
  const ok = await tf.setBackend(tfjsName);
  if (!ok) throw new TrainingBackendError('BACKEND_UNAVAILABLE', `tfjs could not initialize its '${tfjsName}' backend`);
  await tf.ready();
}
