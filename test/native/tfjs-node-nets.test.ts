// Native suite (npm run test:native; needs @tensorflow/tfjs-node, see scripts/setup/build-tfjs-node.mjs):
// every backbone computes on tfjs-node what it computes on the cpu backend, forward and backward.
// tfjs-node-gpu is the same binding and kernels up to CUDA, so this covers its training path too.
//
// Two checks per net, each built from the same seed on both backends:
// 1. Kernel by kernel: every kernel call of an inference pass and of a training step
//    (tf.variableGrads, batch statistics) on tfjs-node runs once more on the cpu backend with the
//    same inputs and attributes; each output must agree to float32 rounding. This is the exact
//    check: it found TensorFlow's wrong 1x1 input gradient (src/train/backends/tfjs-node-kernels).
// 2. End to end: outputs and the gradient of every trainable variable, tfjs-node against cpu. Deep
//    nets amplify rounding: on MobileFaceNet at initialization cpu and wasm, both right, differ by
//    up to 1e-2 of the largest gradient in training mode over a batch of 2 (through the final 1-D
//    batch norm), so face nets are held to 2e-2 there (the wrong 1x1 gradient showed as 0.14) and
//    CIFAR ResNets to 1e-5.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { BACKBONE_NAMES, buildBackbone, type BackboneName } from '../../src/train/nets/registry.js';
import { normalArray, uniformArray } from '../../src/seeded-random.js';

type Backend = 'cpu' | 'tfjs-node';

async function useBackend(name: Backend): Promise<void> {
  await resolveTrainingBackend({ backend: name, log: () => {} });
}

before(async () => {
  await useBackend('cpu'); // initialized once, with our cpu kernels, for the kernel-by-kernel check
  await useBackend('tfjs-node');
});

/**
 * Input sizes: the nets' own, except IResNets (the cpu backend takes minutes per IResNet step at
 * 112x112). At 20x20 their feature maps are 20, 10, 5, 3, 2: odd sizes at stride-2 layers, where
 * padding mistakes show; the layers and channel counts are those of 112x112.
 */
const INPUT: Record<BackboneName, [number, number, number]> = {
  resnet8: [28, 28, 1],
  resnet20: [28, 28, 1],
  resnet32: [28, 28, 1],
  mobilefacenet: [112, 112, 3],
  iresnet18: [20, 20, 3],
  iresnet34: [20, 20, 3],
  iresnet50: [20, 20, 3],
};
const BATCH = 2;

/** One kernel's worst disagreement: its relative difference and the call that showed it. */
interface Worst {
  diff: number;
  call: string;
}

/** Sums whose terms cancel (batch-norm gradients) are held to the size of their terms instead. */
const REDUCTIONS = new Set(['Sum', 'Mean']);

/** Runs kernel `name` of the cpu backend on copies of `inputs`; returns its outputs' values. */
function runOnCpu(name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): tf.TypedArray[] {
  const cpu = tf.findBackend('cpu') as tf.KernelBackend;
  const infos: Record<string, tf.TensorInfo> = {};
  for (const [k, t] of Object.entries(inputs)) {
    infos[k] = { dataId: cpu.write(t.dataSync().slice(), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
  }
  const out = tf.getKernel(name, 'cpu')!.kernelFunc({ inputs: infos, backend: cpu, attrs }) as tf.TensorInfo | tf.TensorInfo[];
  const outs = Array.isArray(out) ? out : [out];
  const values = outs.map((o) => (cpu.readSync(o.dataId) as tf.TypedArray).slice());
  for (const info of [...Object.values(infos), ...outs]) cpu.disposeData(info.dataId);
  return values;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** max |a - b| / max |b|: the difference measured against the tensor's scale. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const s = maxAbs(b);
  const d = maxAbsDiff(a, b);
  return s === 0 ? d : d / s;
}

/**
 * Runs `fn` on the active backend, and every kernel it runs directly (not those our kernels run
 * inside) once more on the cpu backend with the same inputs; returns the worst difference per
 * kernel name.
 */
function compareKernelsWithCpu(fn: () => void): Map<string, Worst> {
  const engine = tf.engine() as unknown as {
    runKernel: (name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) => tf.Tensor | tf.Tensor[];
  };
  const original = engine.runKernel;
  const worst = new Map<string, Worst>();
  let depth = 0;
  engine.runKernel = function (this: unknown, name, inputs, attrs = {}) {
    depth++;
    try {
      const want = depth === 1 ? runOnCpu(name, inputs, attrs) : [];
      const out = original.call(this, name, inputs, attrs);
      if (depth > 1) return out;
      (Array.isArray(out) ? out : [out]).forEach((t, i) => {
        const got = t.dataSync();
        let diff = relDiff(got, want[i]);
        if (REDUCTIONS.has(name)) {
          const absX = tf.abs(inputs.x);
          const terms = maxAbs(runOnCpu(name, { x: absX }, attrs)[0]);
          absX.dispose();
          diff = terms === 0 ? maxAbsDiff(got, want[i]) : maxAbsDiff(got, want[i]) / terms;
        }
        const known = worst.get(name);
        if (!known || diff > known.diff) {
          const shapes = Object.values(inputs).map((v) => `[${v.shape}]`).join(' ');
          worst.set(name, { diff, call: `${name} ${shapes} ${JSON.stringify(attrs)}` });
        }
      });
      return out;
    } finally {
      depth--;
    }
  };
  try {
    fn();
  } finally {
    engine.runKernel = original;
  }
  return worst;
}

interface Run {
  names: string[];
  /** Inference-mode output. */
  output: Float32Array;
  /** Training step: the gradient of every trainable variable. */
  grads: Float32Array[];
}

/** An inference pass and a training step (batch statistics) of the net. */
function run(name: BackboneName): Run {
  const inputShape = INPUT[name];
  const net = buildBackbone(name, { inputShape, seed: 7 });
  const size = BATCH * inputShape.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(uniformArray(size, -1, 1, 9), [BATCH, ...inputShape]);
  const r = tf.tensor2d(normalArray(BATCH * net.outputDim, 1, 10), [BATCH, net.outputDim]);
  const variables = net.trainableVariables();
  const y = net.apply(x, false);
  const output = (y.dataSync() as Float32Array).slice();
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(net.apply(x, true), r)) as tf.Scalar, variables);
  const result = {
    names: net.paramSpecs().filter((p) => p.trainable).map((p) => p.name),
    output,
    grads: variables.map((v) => (grads[v.name].dataSync() as Float32Array).slice()),
  };
  tf.dispose([x, r, y, value, ...Object.values(grads)]);
  net.dispose();
  return result;
}

/** The worst gradient difference, against the largest gradient of the net. */
function worstGradient(names: string[], got: Float32Array[], want: Float32Array[]): { name: string; diff: number } {
  const scale = Math.max(...want.map(maxAbs));
  let worst = { name: '', diff: 0 };
  names.forEach((name, i) => {
    const diff = got[i].reduce((m, v, j) => Math.max(m, Math.abs(v - want[i][j])), 0) / scale;
    if (diff > worst.diff) worst = { name, diff };
  });
  return worst;
}

describe('every net on tfjs-node matches the cpu backend', () => {
  for (const name of BACKBONE_NAMES) {
    test(`${name} at ${INPUT[name].join('x')}, batch ${BATCH}: every kernel call, then outputs and gradients`, async () => {
      await useBackend('tfjs-node');
      let native: Run | undefined;
      const kernels = compareKernelsWithCpu(() => (native = run(name)));
      for (const needed of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) assert.ok(kernels.has(needed), `${name} runs ${needed}`);
      for (const [kernel, { diff, call }] of kernels) {
        assert.ok(diff <= 1e-5, `${kernel} on tfjs-node differs from cpu by ${diff.toExponential(2)}: ${call}`);
      }

      await useBackend('cpu');
      const cpu = run(name);
      assert.deepEqual(native!.names, cpu.names);
      assert.ok(relDiff(native!.output, cpu.output) <= 1e-4, `inference output: ${relDiff(native!.output, cpu.output)}`);
      const g = worstGradient(cpu.names, native!.grads, cpu.grads);
      const tolerance = name.startsWith('resnet') ? 1e-5 : 2e-2;
      assert.ok(g.diff <= tolerance, `gradient of ${g.name}: ${g.diff.toExponential(2)} of the largest gradient`);
    });
  }
});
