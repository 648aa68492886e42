// Shared by the gradient-accumulation and data-parallel tests: a real MNIST batch prepared by a
// registry objective for a small resnet8, the gradients of the whole batch computed in one pass
// (the reference: batch norm on its moving averages, so that splitting the batch cannot change
// the statistics), and a comparison to float32 tolerance.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildRunModels, type RunModels } from '../../../src/train/build-net.js';
import { loadDataset } from '../../../src/train/data/datasets.js';
import { takeSplit } from '../../../src/train/data/image-dataset.js';
import { InMemorySource } from '../../../src/train/data/training-source.js';
import type { PreparedStep, StepPosition } from '../../../src/train/objectives/objective.js';
import { shardGradients, type StepGradients } from '../../../src/train/parallel/shard-gradients.js';
import { DEFAULT_RUN_CONFIG, DEFAULT_STAGE, type RunConfig } from '../../../src/train/run-config.js';
import { mulberry32 } from '../../../src/seeded-random.js';
import { assertClose } from '../objectives/gradient-check.js';

/** softmax-ce, or EPL (whose empirical-prototype update needs the whole batch: ctx.gather). */
export function smallRunConfig(objective: 'softmax-ce' | 'epl'): RunConfig {
  return {
    ...DEFAULT_RUN_CONFIG,
    width: 4,
    objective,
    ...(objective === 'epl' ? { embeddingDim: 8, objectiveOptions: { head: 'cosface', startEpoch: 1 } } : {}),
    batchSize: 12,
    trainLimit: 96,
    checkpointEvery: 0,
    stages: [{ ...DEFAULT_STAGE, epochs: 2 }],
  };
}

export interface BigBatch extends RunModels {
  config: RunConfig;
  prepared: PreparedStep;
  position: StepPosition;
  variables: tf.Variable[];
}

export async function bigBatch(objective: 'softmax-ce' | 'epl', size = 12): Promise<BigBatch> {
  const mnist = loadDataset('mnist');
  const config = smallRunConfig(objective);
  const models = buildRunModels(config, mnist);
  const source = new InMemorySource(mnist, takeSplit(mnist.train, 96, 28 * 28));
  const random = mulberry32(7);
  const batch = await source.read(Array.from({ length: size }, (_, i) => 3 + 7 * i), random);
  const position = { stage: 'train', epoch: 2 };
  const prepared = await models.objective.prepare(batch, { ...position, random, drawBatch: () => Promise.reject(new Error('no partner batch')) });
  const variables = [...models.backbone.trainableVariables(), ...models.objective.trainableVariables('train')];
  return { ...models, config, prepared, position, variables };
}

/** The whole batch in one pass, batch norm in inference mode. */
export function referenceGradients(b: BigBatch): StepGradients {
  return shardGradients(b.backbone, b.objective, b.variables, b.prepared, b.position, { training: false });
}

export function assertSameGradients(actual: StepGradients, expected: StepGradients): void {
  assert.deepEqual(Object.keys(actual.grads).sort(), Object.keys(expected.grads).sort());
  for (const name of Object.keys(expected.grads)) {
    assertClose(actual.grads[name].dataSync(), expected.grads[name].dataSync(), `gradient ${name}`, 2e-4, 2e-6);
  }
  assertClose(actual.values.dataSync(), expected.values.dataSync(), 'loss and terms', 1e-5, 1e-6);
  assert.equal(actual.updates.length, expected.updates.length);
  actual.updates.forEach((u, i) => assertClose(u.value.dataSync(), expected.updates[i].value.dataSync(), 'buffer update', 1e-5, 1e-6));
}

export function disposeGradients(g: StepGradients): void {
  tf.dispose([...Object.values(g.grads), g.values, ...g.updates.map((u) => u.value)]);
}
