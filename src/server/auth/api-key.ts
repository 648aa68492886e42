// API keys and their scopes. A key is `psk_<id>_<secret>`: a 12-hex-digit id (public: it names
// the key in logs, metrics and the key file) and 32 random bytes in base64url. Only the key's
// sha256 is ever stored. A salt-free fast hash is right here, unlike for passwords: a key holds
// 256 random bits, so there is nothing to guess from its hash, and a per-request scrypt would
// cost milliseconds of CPU on every call.
import { createHash, randomBytes } from 'node:crypto';

/**
 * What a key may do: `infer` (predictions, identification, reading models and galleries),
 * `gallery:write` (create and delete galleries, identities and faces), `metrics` (GET
 * /metrics), `admin` (load and unload models; implies every other scope).
 */
export const SCOPES = ['infer', 'gallery:write', 'metrics', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_PREFIX = 'psk_';
const KEY_PATTERN = /^psk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
export const KEY_ID_PATTERN = /^[0-9a-f]{12}$/;
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** Whether a key with `scopes` may do what `needed` guards (admin may do everything). */
export function grants(scopes: ReadonlySet<Scope> | readonly Scope[], needed: Scope): boolean {
  const has = (s: Scope) => (Array.isArray(scopes) ? scopes.includes(s) : (scopes as ReadonlySet<Scope>).has(s));
  return has(needed) || has('admin');
}

/** A new random key and its id. */
export function generateApiKey(): { id: string; key: string } {
  const id = randomBytes(6).toString('hex');
  return { id, key: `${KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}` };
}

/** The sha256 of a key, as 32 bytes (stored as 64 hex digits). */
export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** The id of a well-formed key, or undefined for anything else. */
export function apiKeyId(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}
