// Chooses the backend a training run uses, the way onnxruntime-js's resolveBackend does: try the
// candidates by priority, remember why each better one failed, and say what runs. A backend named
// by the user is loaded exactly, or the run stops with the reason: no silent fallback.
import type { TrainingBackend, TrainingBackendName } from './training-backend.js';
import { TRAINING_BACKEND_NAMES, isTrainingBackendName } from './training-backend.js';
import { TrainingBackendError } from './training-backend-error.js';
import { tfjsNodeBackend, tfjsNodeGpuBackend } from './tfjs-node-backend.js';
import { wasmBackend } from './wasm-backend.js';
import { cpuBackend } from './cpu-backend.js';

const BACKENDS: readonly TrainingBackend[] = [tfjsNodeGpuBackend, tfjsNodeBackend, wasmBackend, cpuBackend]
  .sort((a, b) => b.priority - a.priority);

export interface UnavailableBackend {
  name: TrainingBackendName;
  reason: string;
}

export interface ResolvedTrainingBackend {
  name: TrainingBackendName;
  /** Why each backend ranked above the chosen one could not load, best first. Empty when forced. */
  reasons: UnavailableBackend[];
  /** What runs, e.g. 'wasm (SIMD, 1 thread)'. */
  description: string;
  /** The line logged, kept for progress output and run summaries. */
  line: string;
}

export interface ResolveTrainingBackendOptions {
  /** A name from TRAINING_BACKEND_NAMES (the --backend flag); omitted: the best that loads. */
  backend?: string;
  log?: (line: string) => void;
}

// A load that failed once fails again (missing package, no GPU): remember the reason so that a
// second resolution does not re-import. Successful loads are cheap to repeat (tf.setBackend on an
// initialized backend), and repeating them makes the chosen backend active again.
const failures = new Map<TrainingBackendName, string>();

async function tryLoad(backend: TrainingBackend): Promise<string | undefined> {
  const known = failures.get(backend.name);
  if (known != null) return known;
  try {
    await backend.load();
    return undefined;
  } catch (error) {
    const reason = describeError(error);
    failures.set(backend.name, reason);
    return reason;
  }
}

/** First line of the message, without Node's " imported from /path/to/file" tail. */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].replace(/ imported from \S+$/, '');
}

export async function resolveTrainingBackend(
  options: ResolveTrainingBackendOptions = {},
): Promise<ResolvedTrainingBackend> {
  const log = options.log ?? ((line: string) => console.log(line));
  const requested = options.backend;
  if (requested != null) {
    if (!isTrainingBackendName(requested)) {
      throw new TrainingBackendError(
        'UNSUPPORTED_BACKEND',
        `Unsupported backend: "${requested}". Should be one of: ${TRAINING_BACKEND_NAMES.join(', ')}`,
      );
    }
    const backend = BACKENDS.find((b) => b.name === requested)!;
    const reason = await tryLoad(backend);
    if (reason != null) {
      throw new TrainingBackendError(
        'BACKEND_UNAVAILABLE',
        `Training backend "${requested}" cannot run here: ${reason}. ` +
          (backend.installHint ? `To use it: ${backend.installHint}. ` : '') +
          `Or pick another with --backend (${TRAINING_BACKEND_NAMES.join(', ')}), ` +
          `or leave --backend out to use the best one available.`,
      );
    }
    const description = backend.describe();
    const line = `training backend: ${description}, chosen with --backend`;
    log(line);
    return { name: backend.name, reasons: [], description, line };
  }

  const reasons: UnavailableBackend[] = [];
  for (const backend of BACKENDS) {
    const reason = await tryLoad(backend);
    if (reason != null) {
      reasons.push({ name: backend.name, reason });
      continue;
    }
    const description = backend.describe();
    const why = reasons.map((r) => `${r.name}: ${r.reason}`).join('; ');
    const line = `training backend: ${description}` + (why ? `; not available: ${why}` : '');
    log(line);
    return { name: backend.name, reasons, description, line };
  }
  throw new TrainingBackendError(
    'NO_BACKEND_AVAILABLE',
    `No training backend could load:\n${reasons.map((r) => `  ${r.name}: ${r.reason}`).join('\n')}`,
  );
}
