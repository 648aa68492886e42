// The training loop: a run stopped and resumed from its checkpoint ends with exactly the weights
// (batch-norm statistics, the objective's heads and buffers, and optimizer state included) of
// the same run done in one go, through every part of the objective contract: several views, a
// partner batch, per-step random numbers, random crops, buffers updated from the batch, and two
// stages of which the second freezes the backbone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { buildRunModels } from '../../src/train/build-net.js';
import { readCheckpoint, type Checkpoint } from '../../src/train/checkpoint.js';
import type { Batch } from '../../src/train/data/batches.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import { takeSplit } from '../../src/train/data/image-dataset.js';
import { InMemorySource } from '../../src/train/data/training-source.js';
import { accuracy, predictClasses } from '../../src/train/evaluate-classifier.js';
import { train, type RunState } from '../../src/train/loop.js';
import { buildBackbone } from '../../src/train/nets/registry.js';
import type { NamedWeights } from '../../src/train/nets/net.js';
import { LinearClassifier } from '../../src/train/objectives/linear-classifier.js';
import type { InferenceHead, Objective, PrepareContext, PreparedStep, StepLoss, StepPosition, StepTensors } from '../../src/train/objectives/objective.js';
import { softmaxCrossEntropy } from '../../src/train/objectives/cross-entropy.js';
import { VariableSet } from '../../src/train/objectives/variable-set.js';
import { DEFAULT_RUN_CONFIG, DEFAULT_STAGE, type RunConfig } from '../../src/train/run-config.js';

const quiet = () => {};

/**
 * A test objective that uses every part of the contract: a mixed second view with a partner
 * batch and a per-step random coefficient, per-sample rows, a class memory written from the
 * batch (the last sample of a class wins), and a second stage that trains the head alone.
 */
class TwoStageMemoryObjective implements Objective {
  readonly name = 'test-two-stage-memory';
  readonly task = 'classifier';
  readonly hyperparameters = {};
  readonly stages = [
    { name: 'joint', trainBackbone: true },
    { name: 'head', trainBackbone: false },
  ];
  readonly events: string[] = [];
  private readonly vars = new VariableSet(this.name);
  private readonly head: LinearClassifier;
  private readonly memory: tf.Variable;

  constructor(features: number, private readonly classes: number) {
    this.head = new LinearClassifier(this.vars, features, classes, 5);
    this.memory = this.vars.add('memory', [classes, features], new Float32Array(classes * features), false);
  }

  trainableVariables(): tf.Variable[] {
    return this.vars.trainable();
  }

  getWeights(): NamedWeights {
    return this.vars.getWeights();
  }

  setWeights(w: NamedWeights): void {
    this.vars.setWeights(w);
  }

  async prepare(batch: Batch, ctx: PrepareContext): Promise<PreparedStep> {
    const lam = ctx.random();
    const partner = await ctx.drawBatch(batch.size);
    const mixed = batch.pixels.map((v, i) => lam * v + (1 - lam) * partner.pixels[i]);
    const target = new Float32Array(batch.size * this.classes);
    for (let i = 0; i < batch.size; i++) {
      target[i * this.classes + batch.labels[i]] += lam;
      target[i * this.classes + partner.labels[i]] += 1 - lam;
    }
    const inputs = new Float32Array(batch.pixels.length * 2);
    inputs.set(batch.pixels);
    inputs.set(mixed, batch.pixels.length);
    return { inputs, views: 2, size: batch.size, labels: batch.labels, rows: { target: { width: this.classes, values: target } }, shared: { lam } };
  }

  loss(step: StepTensors): StepLoss {
    const [original, mixed] = step.features;
    const ce = softmaxCrossEntropy(this.head.logits(original), step.labelValues);
    const soft = tf.neg(tf.mean(tf.sum(tf.mul(step.rows.target, tf.logSoftmax(this.head.logits(mixed))), 1))) as tf.Scalar;
    const pull = tf.mul(0.01, tf.mean(tf.sum(tf.mul(original, tf.gather(this.memory, step.labels)), 1))) as tf.Scalar;
    // memory[y_i] <- feature_i, the last sample of each class winning (not part of the loss, so no gradient).
    const source = Array.from({ length: this.classes }, (_, c) => c);
    step.labelValues.forEach((y, i) => (source[y] = this.classes + i));
    const next = tf.gather(tf.concat([this.memory, original]), source);
    return { loss: tf.addN([ce, soft, pull]) as tf.Scalar, terms: { ce, soft }, updates: [{ variable: this.memory, value: next }] };
  }

  beginStage(stage: string): void {
    this.events.push(`begin ${stage}`);
  }

  endEpoch(p: StepPosition): void {
    this.events.push(`end ${p.stage} ${p.epoch}`);
  }

  inferenceHead(): InferenceHead {
    return this.head.inferenceHead();
  }

  dispose(): void {
    this.vars.dispose();
  }
}

describe('training loop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loop-'));
  const mnist = loadDataset('mnist');
  let backend = '';

  before(async () => {
    backend = (await resolveTrainingBackend({ log: quiet })).name;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function assertSameCheckpoints(a: Checkpoint<RunState>, b: Checkpoint<RunState>): void {
    for (const group of ['weights', 'objective', 'optimizer'] as const) {
      assert.deepEqual(Object.keys(b[group]), Object.keys(a[group]), group);
      for (const name of Object.keys(a[group])) assert.deepEqual(b[group][name].values, a[group][name].values, `${group} ${name}`);
    }
    assert.deepEqual(b.state.history.map((h) => h.metrics), a.state.history.map((h) => h.metrics));
  }

  describe('softmax cross-entropy, one stage', () => {
    const config: RunConfig = {
      ...DEFAULT_RUN_CONFIG,
      width: 4,
      batchSize: 16,
      trainLimit: 96,
      testLimit: 32,
      checkpointEvery: 0,
      stages: [{ ...DEFAULT_STAGE, epochs: 2 }],
    };

    async function run(path: string, maxSteps: number | undefined, resume: boolean): Promise<RunState> {
      const { backbone, objective } = buildRunModels(config, mnist);
      const test = takeSplit(mnist.test, 32, 28 * 28);
      const evaluate = () => ({ test_accuracy: accuracy(predictClasses(backbone, objective.inferenceHead(), mnist, test), test.labels) });
      const { state } = await train({ config: { ...config, maxSteps }, data: new InMemorySource(mnist, takeSplit(mnist.train, 96, 28 * 28)), net: backbone, objective, backend, checkpointPath: path, resume, log: quiet, evaluate });
      objective.dispose();
      backbone.dispose();
      return state;
    }

    it('resumes mid-epoch to exactly the weights of an uninterrupted run', async () => {
      const straight = join(dir, 'straight.ckpt');
      const stopped = join(dir, 'stopped.ckpt');
      await run(straight, undefined, false);
      const paused = await run(stopped, 4, false); // 4 of 6 steps of epoch 1
      assert.deepEqual([paused.stage, paused.epoch, paused.stepInEpoch, paused.globalStep], [0, 0, 4, 4]);
      const resumed = await run(stopped, undefined, true);
      assert.deepEqual([resumed.stage, resumed.epoch, resumed.stepInEpoch, resumed.globalStep], [1, 0, 0, 12]);

      const a = readCheckpoint<RunState>(straight);
      assertSameCheckpoints(a, readCheckpoint<RunState>(stopped));
      assert.ok(Object.keys(a.weights).some((n) => n.endsWith('running_mean')), 'batch-norm statistics are checkpointed');
      assert.deepEqual(Object.keys(a.objective), ['classifier.weight', 'classifier.bias'], 'the head belongs to the objective');
      assert.ok(!Object.keys(a.weights).some((n) => n.startsWith('classifier')), 'and not to the backbone');
      assert.equal(a.state.history.length, 2);
      assert.ok(a.state.history[1].metrics.test_accuracy >= 0);
    });
  });

  describe('a two-stage objective with views, a partner batch and a class memory', () => {
    const config: RunConfig = {
      ...DEFAULT_RUN_CONFIG,
      objective: 'test-two-stage-memory',
      width: 4,
      batchSize: 16,
      trainLimit: 64,
      checkpointEvery: 0,
      stages: [
        { ...DEFAULT_STAGE, name: 'joint', epochs: 2, optimizer: 'sgd', learningRate: 0.05, weightDecay: 5e-3, schedule: 'cosine' },
        { ...DEFAULT_STAGE, name: 'head', epochs: 2, optimizer: 'sgd', learningRate: 0.01, schedule: 'cosine' },
      ],
    };

    async function run(path: string, maxSteps: number | undefined, resume: boolean) {
      const backbone = buildBackbone('resnet8', { inputShape: [28, 28, 1], width: 4, seed: 1 });
      const objective = new TwoStageMemoryObjective(backbone.outputDim, 10);
      const result = await train({ config: { ...config, maxSteps }, data: new InMemorySource(mnist, takeSplit(mnist.train, 64, 28 * 28), { padding: 2, flip: false }), net: backbone, objective, backend, checkpointPath: path, resume, log: quiet });
      objective.dispose();
      backbone.dispose();
      return { ...result, events: objective.events };
    }

    it('runs both stages, calling the stage and epoch hooks in order', async () => {
      const path = join(dir, 'two-stage.ckpt');
      const { events, complete, state } = await run(path, undefined, false);
      assert.ok(complete);
      assert.deepEqual(events, ['begin joint', 'end joint 1', 'end joint 2', 'begin head', 'end head 1', 'end head 2']);
      assert.deepEqual(state.history.map((h) => `${h.stage} ${h.epoch}`), ['joint 1', 'joint 2', 'head 1', 'head 2']);
      // Cosine per epoch: epoch e of E at lr (1 + cos(pi e / E)) / 2, so the last epoch runs at 0.
      assert.deepEqual(state.history.map((h) => h.learningRate), [0.05 * 0.5, 0, 0.01 * 0.5, 0]);
      assert.deepEqual(Object.keys(state.history[0].terms), ['ce', 'soft']);
    });

    it('freezes the backbone in the head stage, while batch norm keeps its running statistics moving', async () => {
      const path = join(dir, 'frozen.ckpt');
      await run(path, 8, false); // the whole joint stage: 2 epochs of 4 steps
      const atBoundary = readCheckpoint<RunState>(path);
      assert.deepEqual([atBoundary.state.stage, atBoundary.state.epoch], [1, 0]);
      await run(path, 2, true); // into the head stage, whose first epoch has lr 0.005
      const later = readCheckpoint<RunState>(path);
      const changed = (name: string) => !atBoundary.weights[name].values.every((v, i) => v === later.weights[name].values[i]);
      const trainable = Object.keys(later.weights).filter((n) => !/running_(mean|var)$/.test(n));
      assert.deepEqual(trainable.filter(changed), [], 'no backbone parameter moved');
      assert.ok(Object.keys(later.weights).filter((n) => n.endsWith('running_mean')).some(changed), 'running statistics moved');
      const head = (c: Checkpoint<RunState>) => c.objective['classifier.weight'].values;
      assert.ok(head(later).some((v, i) => v !== head(atBoundary)[i]), 'the head trained');
    });

    it('resumes inside either stage and at the boundary to exactly the uninterrupted run', async () => {
      const straight = join(dir, 'two-straight.ckpt');
      await run(straight, undefined, false);
      const reference = readCheckpoint<RunState>(straight);
      const memory = reference.objective.memory.values;
      assert.ok(memory.some((v) => v !== 0), 'the memory was written');
      for (const stops of [[3, 5], [8], [10, 3]]) {
        const path = join(dir, `two-${stops.join('-')}.ckpt`);
        let resume = false;
        for (const n of stops) {
          await run(path, n, resume);
          resume = true;
        }
        const { complete, events } = await run(path, undefined, true);
        assert.ok(complete);
        assert.ok(events.every((e) => !e.startsWith('begin joint')), `stops ${stops}: a resumed stage does not begin again`);
        assertSameCheckpoints(reference, readCheckpoint<RunState>(path));
      }
    });
  });
});
