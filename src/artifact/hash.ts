import { createHash } from 'node:crypto';

/** Lowercase hex sha256, the form manifest.sha256 stores. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
