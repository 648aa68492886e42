// protoserve's training step on synthetic data, as the benchmarks measure it: the backbone of
// src/train/nets, the softmax cross-entropy objective, a StageOptimizer and the loop's TrainStep
// (src/train/loop.ts): exactly what `protoserve train` runs per batch, minus data loading.
import { buildBackbone, backboneTakes } from '../../src/train/nets/registry.js';
import type { GraphNet } from '../../src/train/nets/graph-net.js';
import { SoftmaxCrossEntropy } from '../../src/train/objectives/softmax-cross-entropy.js';
import { StageOptimizer } from '../../src/train/optimizer.js';
import { TrainStep } from '../../src/train/loop.js';
import type { PreparedStep, StepPosition } from '../../src/train/objectives/objective.js';
import { mulberry32 } from '../../src/seeded-random.js';

/** The nets the benchmarks know, at the input size they are trained at. */
export const BENCH_NETS: Record<string, { inputShape: [number, number, number]; width?: number }> = {
  resnet8: { inputShape: [28, 28, 1], width: 16 },
  resnet20: { inputShape: [28, 28, 1], width: 16 },
  mobilefacenet: { inputShape: [112, 112, 3] },
  iresnet18: { inputShape: [112, 112, 3] },
  iresnet50: { inputShape: [112, 112, 3] },
};

export interface SyntheticStepOptions {
  net: string;
  batch: number;
  classes: number;
  optimizer: 'sgd' | 'adam';
  learningRate: number;
  /** Overrides the net's usual input size. */
  inputShape?: [number, number, number];
  width?: number;
}

export interface SyntheticStep {
  backbone: GraphNet;
  objective: SoftmaxCrossEntropy;
  optimizer: StageOptimizer;
  step: TrainStep;
  prepared: PreparedStep;
  position: StepPosition;
  /** Trainable parameters: backbone and head. */
  trainableParameters: number;
  dispose(): void;
}

export function knownNet(name: string): void {
  if (!(name in BENCH_NETS)) throw new Error(`Unsupported net: "${name}". Should be one of: ${Object.keys(BENCH_NETS).join(', ')}`);
}

export function syntheticStep(o: SyntheticStepOptions): SyntheticStep {
  knownNet(o.net);
  const known = BENCH_NETS[o.net];
  const inputShape = o.inputShape ?? known.inputShape;
  const width = backboneTakes(o.net, 'width') ? (o.width ?? known.width) : undefined;
  const backbone = buildBackbone(o.net, { inputShape, width, seed: 1 });
  const objective = new SoftmaxCrossEntropy({ features: backbone.outputDim, classes: o.classes, seed: 1 });
  const optimizer = new StageOptimizer(
    { optimizer: o.optimizer, learningRate: o.learningRate, momentum: 0.9, weightDecay: 0, clipGradNorm: 0 },
    { backbone: backbone.trainableVariables(), head: objective.trainableVariables() },
  );
  const random = mulberry32(777);
  const pixels = o.batch * inputShape[0] * inputShape[1] * inputShape[2];
  const prepared: PreparedStep = {
    inputs: Float32Array.from({ length: pixels }, () => random() * 2 - 1),
    views: 1,
    size: o.batch,
    labels: Int32Array.from({ length: o.batch }, () => Math.floor(random() * o.classes)),
    rows: {},
    shared: {},
  };
  const trainableParameters = optimizer.variables.reduce((n, v) => n + v.size, 0);
  return {
    backbone,
    objective,
    optimizer,
    step: new TrainStep(backbone, objective, optimizer),
    prepared,
    position: { stage: 'train', epoch: 1 },
    trainableParameters,
    dispose() {
      optimizer.dispose();
      objective.dispose();
      backbone.dispose();
    },
  };
}
