// How much memory a training step of a backbone needs on the active backend, measured rather
// than guessed: tfjs's profiler records the peak of live tensor bytes of a forward and backward
// pass (batch norm in training mode, moving averages put back) at two small batch sizes; the
// peak grows linearly with the batch (activations kept for the backward pass), so two points
// give the bytes per image and the fixed part. Used to refuse a batch that cannot fit the wasm
// heap before the run starts, instead of dying with Emscripten's `Aborted()` in its first step.
import * as tf from '@tensorflow/tfjs';
import type { Net } from '../nets/net.js';
import { TrainingRunError } from './training-run-error.js';

export interface StepMemoryModel {
  /** Bytes alive before any step: parameters, batch-norm statistics, whatever else exists. */
  resident: number;
  /** Peak bytes of one step's own tensors: fixed + perImage * batch. */
  fixed: number;
  perImage: number;
}

/** The wasm32 heap stops at 4 GiB (Emscripten's MAXIMUM_MEMORY for tfjs-backend-wasm). */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;
/**
 * The share of the heap a step's tensors can count on. The heap also holds XNNPACK's packed
 * weights and scratch buffers and loses room to fragmentation; calibrated on this machine
 * (tfjs 4.22): MobileFaceNet at 112x112 trains at batch 16 and aborts at 32 (estimates 2.04 and
 * 4.05 GiB), IResNet-18 trains at 8 and aborts at 16 (2.09 and 3.65 GiB); so the real limit is
 * between 2.09 and 3.65 GiB, and 0.6 x 4 GiB = 2.4 GiB stays on the safe side of it
 * (test/train/parallel/step-memory.test.ts checks the MobileFaceNet pair).
 */
export const WASM_USABLE_SHARE = 0.6;

async function stepPeakBytes(net: Net, batch: number): Promise<number> {
  const [h, w, c] = net.inputShape;
  const saved = net.getWeights();
  const x = tf.randomNormal([batch, h, w, c]) as tf.Tensor4D;
  const before = tf.memory().numBytes;
  const info = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => tf.mean(net.apply(x, true)) as tf.Scalar, net.trainableVariables());
    tf.dispose([value, ...Object.values(grads)]);
  });
  x.dispose();
  net.setWeights(saved);
  return info.peakBytes - before;
}

/** Measures the step memory of `net` on the active backend (two small forward+backward passes). */
export async function measureStepMemory(net: Net, batches: [number, number] = [1, 2]): Promise<StepMemoryModel> {
  const [a, b] = batches;
  const pa = await stepPeakBytes(net, a);
  const pb = await stepPeakBytes(net, b);
  const perImage = Math.max((pb - pa) / (b - a), 0);
  return { resident: tf.memory().numBytes, fixed: Math.max(pa - perImage * a, 0), perImage };
}

/** The memory a run's step needs beyond its activations: parameters' gradients, optimizer slots, the accumulated sum. */
export interface StepShape {
  /** Trainable bytes (backbone and objective). */
  parameterBytes: number;
  /** Copies of the parameters alive during a step besides the gradients (Adam 2, SGD with momentum 1, +1 when accumulating). */
  parameterCopies: number;
}

/** Estimated bytes of a step of `batch` images. */
export function stepBytes(m: StepMemoryModel, s: StepShape, batch: number): number {
  return m.resident + s.parameterBytes * s.parameterCopies + m.fixed + m.perImage * batch;
}

/** The largest batch whose step fits `budget` bytes (0 when none does). */
export function largestBatch(m: StepMemoryModel, s: StepShape, budget: number): number {
  const room = budget - stepBytes(m, s, 0);
  return m.perImage > 0 ? Math.max(Math.floor(room / m.perImage), 0) : Number.POSITIVE_INFINITY;
}

export interface MemoryPlan {
  /** Images in one forward+backward pass of one replica: ceil(batch / (accumulate * workers)). */
  microBatch: number;
  bytes: number;
  budget: number;
  largest: number;
}

/** The run's step against the wasm heap; throws BATCH_EXCEEDS_MEMORY with what fits instead. */
export function checkWasmStep(m: StepMemoryModel, s: StepShape, run: { net: string; inputShape: readonly number[]; batchSize: number; accumulate: number; workers: number }): MemoryPlan {
  const budget = WASM_HEAP_BYTES * WASM_USABLE_SHARE;
  const perReplica = Math.ceil(run.batchSize / run.workers);
  const microBatch = Math.ceil(perReplica / run.accumulate);
  const bytes = stepBytes(m, s, microBatch);
  const largest = largestBatch(m, s, budget);
  if (bytes <= budget) return { microBatch, bytes, budget, largest };
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const fix =
    largest >= 1
      ? `Use --accumulate ${Math.ceil(perReplica / largest)} (micro-batches of ${Math.ceil(perReplica / Math.ceil(perReplica / largest))}; the optimizer still steps on batches of ${run.batchSize}), a smaller --batch-size, or a native backend (--backend tfjs-node).`
      : 'Not even one image fits: use a native backend (--backend tfjs-node) or a smaller input.';
  throw new TrainingRunError(
    'BATCH_EXCEEDS_MEMORY',
    `a training step of ${microBatch} images of ${run.net} (${run.inputShape.join('x')}) needs about ${gib(bytes)} on wasm ` +
      `(${gib(m.perImage)} per image, measured), and the wasm heap stops at 4 GiB, of which about ${gib(budget)} is usable for a step: ` +
      `the largest batch per pass that fits is ${largest}. ${fix}`,
    { details: { bytes, budget, largest, microBatch } },
  );
}
