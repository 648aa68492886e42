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

/** True for any error carrying a string `code` (ours, or Node's / a library's). */
export function hasCode(err: unknown): err is Error & { code: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}

/** The message of anything thrown, for logs and aggregated reasons. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
