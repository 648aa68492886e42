// Run by resolve-training-backend.test.ts in a child process with the stand-in registered:
// prints, one JSON line each, what resolveTrainingBackend chose for each argument in turn
// (a --backend name, or '' for none).
import * as tf from '@tensorflow/tfjs';

import { resolveTrainingBackend } from '../../../../src/train/backends/index.js';

for (const arg of process.argv.slice(2)) {
  try {
    const r = await resolveTrainingBackend({ backend: arg || undefined, log: () => {} });
    const sum = Array.from(tf.tidy(() => tf.add(tf.tensor1d([1, 2]), 1)).dataSync());
    console.log(JSON.stringify({ name: r.name, line: r.line, active: tf.getBackend(), sum, reasons: r.reasons.map((x) => x.name) }));
  } catch (err) {
    console.log(JSON.stringify({ code: (err as { code?: string }).code, message: (err as Error).message }));
  }
}
