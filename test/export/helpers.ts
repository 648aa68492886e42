// Shared by the export and net tests: backend selection and weights that make batch-norm
// folding matter (fresh nets have mean 0 / variance 1 / gamma 1 / beta 0, which folding
// would pass even if it were wrong).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { GraphNet } from '../../src/train/nets/graph-net.js';
import type { NamedWeights } from '../../src/train/nets/net.js';
import { uniformArray, streamSeed } from '../../src/seeded-random.js';

/**
 * 'cpu' for anything that trains (the wasm backend lacks gradient kernels); 'wasm' (XNNPACK,
 * ~30x faster here) for forward-only checks of the 112x112 face backbones.
 */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} did not initialize`);
  await tf.ready();
}

/**
 * Random but sane BN statistics and affine parameters, and PReLU slopes: mean in [-0.5, 0.5),
 * variance in [0.5, 2), gamma in [0.5, 1.5), beta in [-0.5, 0.5), slope in [0, 0.5).
 */
export function randomizeNormalization(net: GraphNet, seed: number): void {
  const ranges: Record<string, [number, number]> = {
    movingMean: [-0.5, 0.5],
    movingVariance: [0.5, 2],
    gamma: [0.5, 1.5],
    beta: [-0.5, 0.5],
    alpha: [0, 0.5],
  };
  const weights: NamedWeights = {};
  for (const spec of net.paramSpecs()) {
    const range = ranges[spec.role];
    if (!range) continue;
    const size = spec.shape.reduce((a, b) => a * b, 1);
    weights[spec.name] = { shape: spec.shape, values: uniformArray(size, range[0], range[1], streamSeed(seed, spec.name)) };
  }
  net.setWeights(weights, { partial: true });
}

export function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}
