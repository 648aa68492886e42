// The one typed error base every protoserve layer throws. A stable `code` (registered with its
// class in error-registry.ts) lets callers (the CLI, the HTTP error handler, tests) react without
// parsing messages; the message says what to do; `details` carries the facts a caller may need
// (a file and line, an option name) in fields rather than in the text.

/** Facts about one error, for programs: `{ option: '--calibrate' }`, `{ file, line }`. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean>>;

export class ProtoserveError extends Error {
  readonly code: string;
  readonly details?: ErrorDetails;

  constructor(code: string, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options?.details) this.details = options.details;
  }
}

/**
 * A check of protoserve's own consistency that failed: a bug, never the user's input (a kernel
 * called with shapes its caller guarantees, an ONNX graph given one name twice, a worker message
 * about a store it never opened). Its code is INTERNAL-class (exit status 1, HTTP 500), and
 * PROTOSERVE_DEBUG=1 prints the stack.
 */
export class InvariantError extends ProtoserveError {
  declare readonly code: 'INVARIANT_VIOLATED';

  constructor(message: string, options?: { cause?: unknown }) {
    super('INVARIANT_VIOLATED', message, options);
  }
}

/** True for any error carrying a string `code` (ours, or Node's / a library's). */
export function hasCode(err: unknown): err is Error & { code: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}

/** The message of anything thrown, for logs and aggregated reasons. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
