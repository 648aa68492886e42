import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';

import { createSessionOnDevice, describeProvider, resetProviderCache } from '../../src/infer/create-session.js';
import { DEVICE_EXECUTION_PROVIDERS, parseDevice } from '../../src/infer/devices.js';
import { meanIntensityClassifier } from './tiny-models.js';

const { bytes } = meanIntensityClassifier();
/** Where onnxruntime-node keeps its CUDA provider (installed with ONNXRUNTIME_NODE_INSTALL=cuda12). */
const CUDA_LIBRARY = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
const CUDA_PROVIDER = existsSync(CUDA_LIBRARY);
const NVIDIA_DEVICE = existsSync('/dev/nvidia0');

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

  // Which of these runs depends on the machine, known before the test: is onnxruntime-node's CUDA
  // provider library installed, and is there an NVIDIA device? Each branch asserts what it means.
  test('explicit cuda without the CUDA provider: DEVICE_UNAVAILABLE naming the missing library, no CPU fallback', { skip: CUDA_PROVIDER && 'the CUDA provider is installed here' }, async () => {
    await assert.rejects(createSessionOnDevice(bytes, 'cuda'), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'DEVICE_UNAVAILABLE');
      assert.ok((err as Error).message.includes(CUDA_LIBRARY), 'the reason names the library that is missing');
      return true;
    });
  });

  test('explicit cuda with the CUDA provider and an NVIDIA device: the session runs on cuda', { skip: !(CUDA_PROVIDER && NVIDIA_DEVICE) && 'no CUDA provider or no NVIDIA device here' }, async () => {
    const ds = await createSessionOnDevice(bytes, 'cuda');
    try {
      assert.equal(ds.provider, 'cuda');
      assert.deepEqual(ds.attempts, [{ provider: 'cuda', ok: true }]);
    } finally {
      await ds.session.release();
    }
  });

  test('explicit cuda with the provider but no NVIDIA device: DEVICE_UNAVAILABLE with onnxruntime\'s reason', { skip: !(CUDA_PROVIDER && !NVIDIA_DEVICE) && 'not a machine with the CUDA provider and no GPU' }, async () => {
    await assert.rejects(createSessionOnDevice(bytes, 'cuda'), { code: 'DEVICE_UNAVAILABLE' });
  });

  test('auto without a usable CUDA provider: cpu, saying why cuda was skipped, and remembering it', { skip: CUDA_PROVIDER && NVIDIA_DEVICE && 'CUDA can run here' }, async () => {
    resetProviderCache();
    const first = await createSessionOnDevice(bytes, 'auto');
    await first.session.release();
    assert.equal(first.provider, 'cpu');
    assert.equal(first.attempts[0].provider, 'cuda');
    assert.equal(first.attempts[0].ok, false);
    if (!CUDA_PROVIDER) assert.ok(first.attempts[0].reason!.includes(CUDA_LIBRARY));
    assert.match(describeProvider(first), /^cpu \(cuda unavailable: .+\)$/);
    // The CUDA failure is remembered for the next model instead of paid again.
    const second = await createSessionOnDevice(bytes, 'auto');
    await second.session.release();
    assert.equal(second.attempts[0].remembered, true);
    assert.equal(second.attempts[0].reason, first.attempts[0].reason);
  });

  test('auto where CUDA can run: cuda, nothing skipped', { skip: !(CUDA_PROVIDER && NVIDIA_DEVICE) && 'no CUDA provider or no NVIDIA device here' }, async () => {
    resetProviderCache();
    const ds = await createSessionOnDevice(bytes, 'auto');
    await ds.session.release();
    assert.equal(ds.provider, 'cuda');
    assert.deepEqual(ds.attempts, [{ provider: 'cuda', ok: true }]);
    assert.equal(describeProvider(ds), 'cuda');
  });

  test('a file onnxruntime cannot parse is MODEL_LOAD_FAILED, listing every reason', async () => {
    await assert.rejects(createSessionOnDevice(new Uint8Array([1, 2, 3, 4]), 'cpu'), { code: 'MODEL_LOAD_FAILED', message: /cpu: / });
  });
});
