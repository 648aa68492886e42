// Every error code protoserve throws, in one registry: each layer defines its codes here (next
// to its error class) with the class of failure it is, and the class fixes the exit status the
// CLI ends with. The CLI prints `CODE: message`; callers and tests branch on the code, never
// on message text. The HTTP API has its own registry (src/server/error-codes.ts: HTTP statuses).
//
// Adopting it in a layer (src/eval/eval-error.ts is the example):
//   export const FOO_ERROR_CODES = defineErrorCodes('foo', {
//     FOO_BAR: { class: 'invalid-input', description: 'what went wrong, in the user's words' },
//   });
//   export type FooErrorCode = keyof typeof FOO_ERROR_CODES;
//   export class FooError extends ProtoserveError { declare readonly code: FooErrorCode; ... }
// test/errors/error-registry.test.ts fails on a code thrown in src that no layer registered.
import { InvariantError } from './errors.js';

/** The classes of failure, with the CLI's exit status for each (README "Exit status"). */
export const ERROR_CLASSES = {
  usage: { exitStatus: 2, meaning: 'the command line is wrong: an unknown command, option or value' },
  'not-found': { exitStatus: 3, meaning: 'a file, folder or model it names does not exist' },
  'invalid-input': { exitStatus: 4, meaning: 'an input exists but is not what it must be (dataset, manifest, model, feature or image file)' },
  unavailable: { exitStatus: 5, meaning: 'this machine cannot do it (device, training backend, port, permissions)' },
  'check-failed': { exitStatus: 6, meaning: 'the work ran but its result was refused (export parity, a metric the data cannot give)' },
  internal: { exitStatus: 1, meaning: 'an unexpected error, a bug: rerun with PROTOSERVE_DEBUG=1 for the stack' },
} as const;

export type ErrorClass = keyof typeof ERROR_CLASSES;

export interface ErrorCodeSpec {
  class: ErrorClass;
  /** When it happens, in the user's words (docs and `--help`). */
  description: string;
}

export interface RegisteredErrorCode extends ErrorCodeSpec {
  code: string;
  /** The layers that define it (a code may be shared, e.g. INVALID_ARGUMENT). */
  layers: string[];
}

const registry = new Map<string, RegisteredErrorCode>();

/**
 * Registers a layer's codes and returns them (so the layer can derive its code type with
 * `keyof typeof`). A code defined by two layers must have the same class.
 */
export function defineErrorCodes<const T extends Record<string, ErrorCodeSpec>>(layer: string, specs: T): T {
  for (const [code, spec] of Object.entries(specs)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(code)) throw new InvariantError(`error code "${code}" (${layer}) is not UPPER_SNAKE_CASE`);
    const known = registry.get(code);
    if (known && known.class !== spec.class) {
      throw new InvariantError(`error code ${code} is "${known.class}" in ${known.layers.join(', ')} but "${spec.class}" in ${layer}`);
    }
    if (known) {
      if (!known.layers.includes(layer)) known.layers.push(layer);
    } else registry.set(code, { code, class: spec.class, description: spec.description, layers: [layer] });
  }
  return specs;
}

/** The registration of `code`, if any layer (loaded so far) defines it. */
export function lookupErrorCode(code: string): RegisteredErrorCode | undefined {
  return registry.get(code);
}

/** Every registered code, sorted (docs, tests). Only layers already imported are included. */
export function registeredErrorCodes(): RegisteredErrorCode[] {
  return [...registry.values()].sort((a, b) => (a.code < b.code ? -1 : 1));
}

export interface ClassifiedError {
  /** The error's code, or INTERNAL for anything without a registered one. */
  code: string;
  class: ErrorClass;
  exitStatus: number;
  message: string;
}

/** What the CLI reports for a thrown value: its code, class and exit status. */
export function classifyError(err: unknown): ClassifiedError {
  const message = err instanceof Error ? err.message : String(err);
  const raw = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : undefined;
  const registered = code === undefined ? undefined : registry.get(code);
  const cls: ErrorClass = registered?.class ?? 'internal';
  return { code: code ?? 'INTERNAL', class: cls, exitStatus: ERROR_CLASSES[cls].exitStatus, message };
}

// Codes every command shares, and Node's own codes that reach the CLI unchanged.
defineErrorCodes('cli', {
  UNKNOWN_COMMAND: { class: 'usage', description: 'protoserve was given no command or one it does not have' },
  INVALID_ARGUMENT: { class: 'usage', description: 'an option or argument is missing, unknown or has a wrong value' },
  INTERNAL: { class: 'internal', description: 'an error without a code of its own (a bug)' },
  INVARIANT_VIOLATED: { class: 'internal', description: "a check of protoserve's own consistency failed (a bug: report it with the stack PROTOSERVE_DEBUG=1 prints)" },
  LISTEN_FAILED: { class: 'unavailable', description: 'serve cannot listen on its host and port (in use, or not permitted)' },
});
defineErrorCodes('node', {
  ERR_PARSE_ARGS_UNKNOWN_OPTION: { class: 'usage', description: 'an option the command does not have' },
  ERR_PARSE_ARGS_INVALID_OPTION_VALUE: { class: 'usage', description: 'an option given without its value, or a value to a flag' },
  ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL: { class: 'usage', description: 'an argument the command does not take' },
  ENOENT: { class: 'not-found', description: 'a file or folder does not exist' },
  ENOTDIR: { class: 'not-found', description: 'a path names a file where a folder was expected' },
  EACCES: { class: 'unavailable', description: 'permission denied' },
  EPERM: { class: 'unavailable', description: 'operation not permitted' },
  EROFS: { class: 'unavailable', description: 'read-only file system' },
  ENOSPC: { class: 'unavailable', description: 'no space left on the device' },
  EADDRINUSE: { class: 'unavailable', description: 'the port is in use' },
});

/** The exit-status table for `protoserve --help` and the README. */
export function exitStatusHelp(): string {
  const rows = [{ status: 0, text: 'success' }, ...Object.entries(ERROR_CLASSES).map(([name, c]) => ({ status: c.exitStatus, text: `${name}: ${c.meaning}` }))];
  return rows.sort((a, b) => a.status - b.status).map((r) => `  ${r.status}  ${r.text}`).join('\n');
}
