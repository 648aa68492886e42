// Where API keys are kept, hashed: the key file (JSON, written by `protoserve keys create`,
// replaced atomically, readable by its owner only) and key records in the configuration
// (server.api_keys / $PROTOSERVE_API_KEYS) for deployments that pass secrets in the
// environment. Neither ever holds a key, only its id, scopes and sha256.
//
// Key file:  {"format": "protoserve-api-keys", "version": 1, "keys": [
//              {"id": "3f9a1c0b7d2e", "name": "ci", "scopes": ["infer"], "sha256": "<64 hex>",
//               "created": "2025-01-01T00:00:00.000Z"}]}
// Records:   "3f9a1c0b7d2e:<64 hex>:infer,gallery:write 0c1d...:<64 hex>:admin"
import { readFile } from 'node:fs/promises';

import { atomicWriteFile } from '../../artifact/atomic-write.js';
import { hasCode } from '../../errors.js';
import { KEY_ID_PATTERN, SCOPES, SHA256_PATTERN, isScope, type Scope } from './api-key.js';
import { AuthError } from './auth-error.js';

export const KEY_FILE_FORMAT = 'protoserve-api-keys';
export const KEY_FILE_VERSION = 1;

export interface ApiKeyRecord {
  id: string;
  scopes: Scope[];
  /** sha256 of the key, 64 hex digits. */
  sha256: string;
  name?: string;
  /** ISO date of creation. */
  created?: string;
}

/** The records of a key file, or undefined when there is no such file. */
export async function readKeyFile(path: string): Promise<ApiKeyRecord[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (hasCode(err) && err.code === 'ENOENT') return undefined;
    throw err;
  }
  return parseKeyFile(text, path);
}

export function parseKeyFile(text: string, source: string): ApiKeyRecord[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(source, `not valid JSON (${(err as Error).message})`);
  }
  const root = json as { format?: unknown; version?: unknown; keys?: unknown } | null;
  if (typeof root !== 'object' || root === null || root.format !== KEY_FILE_FORMAT || root.version !== KEY_FILE_VERSION || !Array.isArray(root.keys)) {
    throw invalid(source, `expected {"format": "${KEY_FILE_FORMAT}", "version": ${KEY_FILE_VERSION}, "keys": [...]}`);
  }
  const records = root.keys.map((entry: unknown, i) => checkRecord(entry, `${source}: keys[${i}]`));
  checkUnique(records, source);
  return records;
}

/** Writes the key file atomically, readable and writable by its owner only. */
export async function writeKeyFile(path: string, records: readonly ApiKeyRecord[]): Promise<void> {
  const text = `${JSON.stringify({ format: KEY_FILE_FORMAT, version: KEY_FILE_VERSION, keys: records }, null, 2)}\n`;
  await atomicWriteFile(path, text, 0o600);
}

/** Records "<id>:<sha256>:<scope>,<scope>" separated by white space. */
export function parseKeyRecords(text: string, source: string): ApiKeyRecord[] {
  const records = text
    .split(/\s+/)
    .filter((r) => r !== '')
    .map((entry, i) => {
      const [id, sha256, ...rest] = entry.split(':');
      const scopes = rest.join(':');
      if (scopes === '') throw invalid(source, `record ${i + 1} ${JSON.stringify(entry.slice(0, 20))}...: expected <id>:<sha256>:<scope>,... (protoserve keys create --record prints one)`);
      return checkRecord({ id, sha256, scopes: scopes.split(',') }, `${source}: record ${i + 1}`);
    });
  checkUnique(records, source);
  return records;
}

export function formatKeyRecord(record: ApiKeyRecord): string {
  return `${record.id}:${record.sha256}:${record.scopes.join(',')}`;
}

/** Scopes from a comma-separated list (`infer,gallery:write`); unknown ones are refused. */
export function parseScopes(text: string, source: string): Scope[] {
  return checkScopes(text.split(',').map((s) => s.trim()).filter((s) => s !== ''), source);
}

function checkRecord(entry: unknown, where: string): ApiKeyRecord {
  const r = entry as Partial<Record<keyof ApiKeyRecord, unknown>> | null;
  if (typeof r !== 'object' || r === null) throw invalid(where, 'expected an object');
  if (typeof r.id !== 'string' || !KEY_ID_PATTERN.test(r.id)) throw invalid(where, `id: expected 12 hex digits, got ${JSON.stringify(r.id)}`);
  if (typeof r.sha256 !== 'string' || !SHA256_PATTERN.test(r.sha256)) throw invalid(where, 'sha256: expected 64 hex digits (the hash of the key, never the key itself)');
  if (!Array.isArray(r.scopes)) throw invalid(where, 'scopes: expected a list');
  const scopes = checkScopes(r.scopes, `${where}.scopes`);
  if (r.name !== undefined && (typeof r.name !== 'string' || r.name.length > 64)) throw invalid(where, 'name: expected a string of at most 64 characters');
  if (r.created !== undefined && typeof r.created !== 'string') throw invalid(where, 'created: expected an ISO date string');
  return { id: r.id, scopes, sha256: r.sha256, ...(r.name !== undefined ? { name: r.name as string } : {}), ...(r.created !== undefined ? { created: r.created as string } : {}) };
}

function checkScopes(scopes: unknown[], where: string): Scope[] {
  if (scopes.length === 0) throw invalid(where, `no scope; expected some of ${SCOPES.join(', ')}`);
  for (const s of scopes) if (!isScope(s)) throw invalid(where, `unknown scope ${JSON.stringify(s)}; expected ${SCOPES.join(', ')}`);
  return [...new Set(scopes as Scope[])];
}

function checkUnique(records: readonly ApiKeyRecord[], source: string): void {
  const seen = new Set<string>();
  for (const r of records) {
    if (seen.has(r.id)) throw invalid(source, `key id ${r.id} appears twice`);
    seen.add(r.id);
  }
}

function invalid(where: string, why: string): AuthError {
  return new AuthError('API_KEYS_INVALID', `${where}: ${why}`);
}
