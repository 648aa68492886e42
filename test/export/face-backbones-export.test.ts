// Export parity of the 112x112 face backbones (MobileFaceNet, IResNet-18/34/50), batch 2, with
// batch-norm statistics and PReLU slopes randomized so that folding is really exercised.
// The tfjs reference runs on the wasm backend (XNNPACK): the IResNet-50 forward takes ~2 s
// there against ~60 s on 'cpu'.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exportToOnnx } from '../../src/export/export-onnx.js';
import { buildBackbone, type BackboneOptions } from '../../src/train/nets/registry.js';
import { randomizeNormalization, seconds, useBackend } from './helpers.js';

before(() => useBackend('wasm'));

// The raw features are compared (their scale is what `relative` divides by); one case appends
// the L2 normalization an embedder ships with.
const cases: Array<[string, BackboneOptions, number, 'l2norm' | undefined]> = [
  ['mobilefacenet', {}, 128, undefined],
  ['mobilefacenet', { embeddingDim: 512, inputShape: [112, 96, 3] }, 512, 'l2norm'],
  ['iresnet18', {}, 512, undefined],
  ['iresnet34', {}, 512, undefined],
  ['iresnet50', {}, 512, undefined],
];

describe('face backbone export parity', () => {
  for (const [name, opts, dim, append] of cases) {
    const shape = opts.inputShape ?? [112, 112, 3];
    test(`${name} ${shape.join('x')} -> ${dim}${append ? ` + ${append}` : ''} matches tfjs`, async () => {
      const start = performance.now();
      const net = buildBackbone(name, { ...opts, seed: 21 });
      try {
        randomizeNormalization(net, 22);
        assert.equal(net.outputDim, dim);
        const { parity, model } = await exportToOnnx(net, { append, parity: { samples: 2, threads: 1 } });
        assert.ok(parity.relative < 1e-4, `relative ${parity.relative}`);
        console.log(
          `# ${name} ${shape.join('x')}${append ? ` + ${append}` : ''}: max abs ${parity.maxAbsDiff.toExponential(2)}, relative ${parity.relative.toExponential(2)} ` +
            `(${(model.length / 2 ** 20).toFixed(1)} MiB, ${parity.backend}, ${seconds(start)})`,
        );
      } finally {
        net.dispose();
      }
    });
  }
});
