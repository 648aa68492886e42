// How the CLI reports a failure: `CODE: message` on stderr, and the exit status of the code's
// class (src/error-registry.ts). Anything without a registered code is INTERNAL, exit 1.
import { classifyError } from './error-registry.js';

export interface CliFailure {
  /** The lines to print on stderr. */
  text: string;
  exitStatus: number;
}

export function reportCliError(err: unknown, debug = Boolean(process.env.PROTOSERVE_DEBUG)): CliFailure {
  const c = classifyError(err);
  // Node's system errors already start with their code ("ENOENT: no such file ...").
  const line = c.message.startsWith(`${c.code}:`) ? c.message : `${c.code}: ${c.message}`;
  const lines = [line];
  if (c.class === 'internal' && !debug) lines.push('(an unexpected error: rerun with PROTOSERVE_DEBUG=1 to see where it happened)');
  if (debug && err instanceof Error && err.stack) lines.push(err.stack);
  return { text: lines.join('\n'), exitStatus: c.exitStatus };
}
