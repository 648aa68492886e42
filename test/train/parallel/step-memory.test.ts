// The up-front wasm memory check: a step of MobileFaceNet at 112x112 is measured on the wasm
// backend, and the estimate agrees with what the wasm heap was seen to do (batch 16 trains,
// batch 32 aborts); a batch beyond it is refused with the largest batch that fits and the
// --accumulate that makes it fit, and the same batch with that accumulation passes.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { resolveTrainingBackend } from '../../../src/train/backends/index.js';
import { buildBackbone } from '../../../src/train/nets/registry.js';
import { checkWasmStep, measureStepMemory, stepBytes, WASM_HEAP_BYTES, WASM_USABLE_SHARE, type StepMemoryModel } from '../../../src/train/parallel/step-memory.js';
import { TrainingRunError } from '../../../src/train/parallel/training-run-error.js';

describe('wasm step memory', () => {
  let model: StepMemoryModel;
  const net = 'mobilefacenet';
  const inputShape = [112, 112, 3];
  // Adam's two slots on MobileFaceNet's 1.0 M parameters.
  const shape = { parameterBytes: 4 * 1_003_136, parameterCopies: 2 };

  before(async () => {
    await resolveTrainingBackend({ backend: 'wasm', log: () => {} });
    const backbone = buildBackbone(net, { inputShape: [112, 112, 3], seed: 1 });
    model = await measureStepMemory(backbone);
    backbone.dispose();
  });

  it('estimates MobileFaceNet at 112x112 under the usable heap at batch 16 and over it at 32', () => {
    const budget = WASM_HEAP_BYTES * WASM_USABLE_SHARE;
    assert.ok(stepBytes(model, shape, 16) < budget, `batch 16: ${stepBytes(model, shape, 16)} bytes`);
    assert.ok(stepBytes(model, shape, 32) > budget, `batch 32: ${stepBytes(model, shape, 32)} bytes`);
  });

  it('refuses batch 128 with the estimate, the largest batch and the accumulation that fits; accepts it accumulated', () => {
    const run = { net, inputShape, batchSize: 128, accumulate: 1, workers: 1 };
    let largest = 0;
    assert.throws(
      () => checkWasmStep(model, shape, run),
      (e: unknown) => {
        assert.ok(e instanceof TrainingRunError);
        assert.equal(e.code, 'BATCH_EXCEEDS_MEMORY');
        largest = Number(e.details?.largest);
        assert.ok(largest >= 16 && largest < 32, `largest ${largest}`);
        assert.match(e.message, new RegExp(`needs about \\d+\\.\\d\\d GiB.*largest batch per pass that fits is ${largest}\\. Use --accumulate ${Math.ceil(128 / largest)} `));
        return true;
      },
    );
    const plan = checkWasmStep(model, shape, { ...run, accumulate: Math.ceil(128 / largest) });
    assert.ok(plan.microBatch <= largest);
    // Workers each have their own heap: 2 workers and 4 micro-batches make passes of 16.
    assert.equal(checkWasmStep(model, shape, { ...run, accumulate: 4, workers: 2 }).microBatch, 16);
  });
});
