// Worker of scripts/bench/train-workers.ts: a replica that trains on its shard alone, exchanging
// nothing with the others. Several at once measure what the machine gives N concurrent backends
// running shard-sized steps: the ceiling of --workers N there.
import { parentPort, workerData } from 'node:worker_threads';

import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { syntheticStep } from './synthetic-step.js';

const { net, batch, backend } = workerData as { net: string; batch: number; backend: string };
await resolveTrainingBackend({ backend, log: () => {} });
const s = syntheticStep({ net, batch, classes: 10, optimizer: 'sgd', learningRate: 0.01 });
const run = (steps: number) => {
  for (let i = 0; i < steps; i++) {
    const { values } = s.step.run(s.prepared, s.position);
    values.dataSync();
    values.dispose();
  }
};
run(1); // warm-up
const port = parentPort!;
port.on('message', (steps: number) => {
  run(steps);
  port.postMessage('done');
});
port.postMessage('ready');
