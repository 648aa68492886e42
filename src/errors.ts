// The one typed error base every protoserve layer throws. A stable `code` lets callers (the CLI,
// the HTTP error handler, tests) react without parsing messages; the message says what to do.

export class ProtoserveError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
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
