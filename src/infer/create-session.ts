// Creates an onnxruntime session on a device, trying its execution providers in order
// (the shape of onnxruntime-common's resolveBackend): every failure is remembered with its
// reason, the provider that runs is reported, and when none loads one error lists them all.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';

import { messageOf } from '../errors.js';
import { DEVICE_EXECUTION_PROVIDERS, PROVIDER_HINTS, parseDevice, type Device, type ExecutionProvider } from './devices.js';
import { InferError } from './infer-error.js';

export interface ProviderAttempt {
  provider: ExecutionProvider;
  ok: boolean;
  /** Why it failed (absent when ok). */
  reason?: string;
  /** True when the failure was remembered from an earlier model instead of tried again. */
  remembered?: boolean;
}

export interface DeviceSession {
  session: ort.InferenceSession;
  /** The device asked for. */
  device: Device;
  /** The execution provider that runs the session. */
  provider: ExecutionProvider;
  /** Every provider tried, in order, with why the ones before `provider` failed. */
  attempts: ProviderAttempt[];
}

export interface CreateSessionOptions {
  /** Extra onnxruntime options (executionProviders is set here and cannot be overridden). */
  sessionOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
}

/**
 * Providers that failed to load under `auto`, with the reason. A provider's shared library
 * either loads in this process or does not, so later models skip it instead of paying the
 * (sometimes seconds-long) failed load again. An explicit device always tries for real.
 */
const unavailable = new Map<ExecutionProvider, string>();

/** Forgets remembered provider failures (tests; or after installing a provider). */
export function resetProviderCache(): void {
  unavailable.clear();
}

/**
 * onnxruntime-node loads the CUDA provider from a shared library next to its binding, which its
 * install script downloads only when asked (ONNXRUNTIME_NODE_INSTALL=cuda12). Checking for the
 * file first saves a failed load, and the red error line onnxruntime's global logger prints then.
 */
function missingProviderLibrary(provider: ExecutionProvider): string | undefined {
  if (provider !== 'cuda') return undefined;
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  const lib = join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
  return existsSync(lib) ? undefined : `${lib} is not installed (${PROVIDER_HINTS.cuda})`;
}

/**
 * Creates a session for `model` (a path or the ONNX bytes) on `device`.
 * Throws UNSUPPORTED_DEVICE for an unknown name, DEVICE_UNAVAILABLE when no GPU provider of an
 * explicit device loads, MODEL_LOAD_FAILED when the CPU provider was tried and failed too
 * (then the model itself is the problem).
 */
export async function createSessionOnDevice(
  model: string | Uint8Array,
  device: Device | string,
  options: CreateSessionOptions = {},
): Promise<DeviceSession> {
  const resolved = parseDevice(device);
  const providers = DEVICE_EXECUTION_PROVIDERS[resolved];
  const attempts: ProviderAttempt[] = [];
  for (const provider of providers) {
    const remembered = resolved === 'auto' ? unavailable.get(provider) : undefined;
    if (remembered !== undefined) {
      attempts.push({ provider, ok: false, reason: remembered, remembered: true });
      continue;
    }
    const missing = missingProviderLibrary(provider);
    if (missing) {
      attempts.push({ provider, ok: false, reason: missing });
      if (resolved === 'auto') unavailable.set(provider, missing);
      continue;
    }
    try {
      const sessionOptions: ort.InferenceSession.SessionOptions = {
        // Failures of a GPU provider are reported by us, with a hint; keep onnxruntime's own
        // error log for the CPU provider only.
        logSeverityLevel: provider === 'cpu' ? 3 : 4,
        ...options.sessionOptions,
        executionProviders: [provider],
      };
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
      attempts.push({ provider, ok: true });
      return { session, device: resolved, provider, attempts };
    } catch (err) {
      const reason = `${firstLine(messageOf(err))} (${PROVIDER_HINTS[provider]})`;
      attempts.push({ provider, ok: false, reason });
      if (provider !== 'cpu' && resolved === 'auto') unavailable.set(provider, reason);
    }
  }
  const reasons = attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ');
  const what = typeof model === 'string' ? model : `model (${model.byteLength} bytes)`;
  if (attempts.some((a) => a.provider === 'cpu')) {
    throw new InferError('MODEL_LOAD_FAILED', `Cannot load ${what} on device "${resolved}": ${reasons}`);
  }
  throw new InferError(
    'DEVICE_UNAVAILABLE',
    `Device "${resolved}" is not available: ${reasons}. Use --device auto to fall back to cpu, or --device cpu.`,
  );
}

/** A one-line summary for logs: `cpu (cuda unavailable: ...)`. */
export function describeProvider(ds: Pick<DeviceSession, 'provider' | 'attempts'>): string {
  const skipped = ds.attempts
    .filter((a) => !a.ok)
    .map((a) => (a.remembered ? `${a.provider} unavailable, as for the models before` : `${a.provider} unavailable: ${a.reason}`));
  return skipped.length > 0 ? `${ds.provider} (${skipped.join('; ')})` : ds.provider;
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line.trim();
}
