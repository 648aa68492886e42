import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createSessionOnDevice, describeProvider, resetProviderCache } from '../../src/infer/create-session.js';
import { DEVICE_EXECUTION_PROVIDERS, parseDevice } from '../../src/infer/devices.js';
import { meanIntensityClassifier } from './tiny-models.js';

const { bytes } = meanIntensityClassifier();

describe('device names', () => {
  test('known names pass; an unknown one throws listing the choices', () => {
    for (const d of ['auto', 'cpu', 'cuda', 'webgpu']) assert.equal(parseDevice(d), d);
    assert.throws(() => parseDevice('tpu'), { code: 'UNSUPPORTED_DEVICE', message: 'Unsupported device: "tpu". Should be one of: auto, cpu, cuda, webgpu' });
    assert.throws(() => parseDevice(undefined), { code: 'UNSUPPORTED_DEVICE' });
  });

  test('each device maps to its execution providers in one table', () => {
    assert.deepEqual(DEVICE_EXECUTION_PROVIDERS, { auto: ['cuda', 'cpu'], cpu: ['cpu'], cuda: ['cuda'], webgpu: ['webgpu'] });
  });
});

describe('createSessionOnDevice', () => {
  test('cpu runs on the cpu provider', async () => {
    const ds = await createSessionOnDevice(bytes, 'cpu');
    assert.equal(ds.provider, 'cpu');
    assert.deepEqual(ds.attempts, [{ provider: 'cpu', ok: true }]);
    await ds.session.release();
  });

  test('an unknown device throws before loading anything', async () => {
    await assert.rejects(createSessionOnDevice(bytes, 'gpu'), { code: 'UNSUPPORTED_DEVICE', message: /Should be one of: auto, cpu, cuda, webgpu/ });
  });

  test('explicit cuda runs on cuda or throws DEVICE_UNAVAILABLE with the reason, never falls back', async () => {
    try {
      const ds = await createSessionOnDevice(bytes, 'cuda');
      assert.equal(ds.provider, 'cuda'); // a machine with the CUDA provider installed
      await ds.session.release();
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'DEVICE_UNAVAILABLE');
      assert.match((err as Error).message, /^Device "cuda" is not available: cuda: .+--device cpu/);
    }
  });

  test('auto says which provider runs and why the ones before it were skipped', async () => {
    resetProviderCache();
    const first = await createSessionOnDevice(bytes, 'auto');
    await first.session.release();
    if (first.provider === 'cuda') return; // nothing was skipped on a CUDA machine
    assert.equal(first.provider, 'cpu');
    assert.equal(first.attempts[0].provider, 'cuda');
    assert.equal(first.attempts[0].ok, false);
    assert.ok(first.attempts[0].reason!.length > 0);
    assert.match(describeProvider(first), /^cpu \(cuda unavailable: .+\)$/);
    // The CUDA failure is remembered for the next model instead of paid again.
    const second = await createSessionOnDevice(bytes, 'auto');
    await second.session.release();
    assert.equal(second.attempts[0].remembered, true);
    assert.equal(second.attempts[0].reason, first.attempts[0].reason);
  });

  test('a file onnxruntime cannot parse is MODEL_LOAD_FAILED, listing every reason', async () => {
    await assert.rejects(createSessionOnDevice(new Uint8Array([1, 2, 3, 4]), 'cpu'), { code: 'MODEL_LOAD_FAILED', message: /cpu: / });
  });
});
