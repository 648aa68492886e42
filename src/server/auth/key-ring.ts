// The API keys a server accepts: the key file's records (read again when the file changes, so
// `protoserve keys create` and `keys revoke` take effect on a running server within a few
// seconds) and the records of the configuration. verify() finds a key's record in constant time:
// the presented key's sha256 is compared with timingSafeEqual against the record of the key's
// id, or against a dummy hash when no record has that id, so the time taken says nothing about
// how much of a key was right.
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';

import { messageOf } from '../../errors.js';
import { apiKeyId, hashApiKey } from './api-key.js';
import { AuthError } from './auth-error.js';
import { readKeyFile, type ApiKeyRecord } from './key-store.js';

interface Entry {
  record: ApiKeyRecord;
  hash: Buffer;
}

const DUMMY_HASH = Buffer.alloc(32);

export interface KeyRingSources {
  /** The key file (a missing file holds no keys). */
  file?: string;
  /** Records from the configuration (server.api_keys). */
  records?: readonly ApiKeyRecord[];
}

export class KeyRing {
  private byId = new Map<string, Entry>();
  private stopWatching?: () => void;

  private constructor(private readonly sources: KeyRingSources) {}

  static async load(sources: KeyRingSources): Promise<KeyRing> {
    const ring = new KeyRing(sources);
    ring.byId = ring.index(sources.file ? ((await readKeyFile(sources.file)) ?? []) : []);
    return ring;
  }

  /** Keys accepted now. */
  get size(): number {
    return this.byId.size;
  }

  /** The record of `key`, or undefined when it is not a key of this ring. */
  verify(key: string): ApiKeyRecord | undefined {
    const id = apiKeyId(key);
    const entry = id === undefined ? undefined : this.byId.get(id);
    const same = timingSafeEqual(hashApiKey(key), entry?.hash ?? DUMMY_HASH);
    return same && entry ? entry.record : undefined;
  }

  /**
   * Polls the key file every `intervalMs` (a poll works on every filesystem, volumes and
   * mounted secrets included) and reloads it when it changed. A file that fails to parse keeps
   * the keys in effect, and `onError` says why.
   */
  watch(options: { intervalMs?: number; onReload?: (keys: number) => void; onError?: (message: string) => void } = {}): void {
    const file = this.sources.file;
    if (!file || this.stopWatching) return;
    const listener = (current: Stats, previous: Stats) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
      readKeyFile(file)
        .then((records) => {
          this.byId = this.index(records ?? []);
          options.onReload?.(this.size);
        })
        .catch((err: unknown) => options.onError?.(`API key file ${file} not reloaded, the keys before stay in effect: ${messageOf(err)}`));
    };
    const watcher = watchFile(file, { interval: options.intervalMs ?? 2000, persistent: false }, listener);
    watcher.unref?.();
    this.stopWatching = () => unwatchFile(file, listener);
  }

  close(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
  }

  /** The file's records with the configuration's, by id; an id in both is refused. */
  private index(fileRecords: readonly ApiKeyRecord[]): Map<string, Entry> {
    const byId = new Map<string, Entry>();
    for (const record of [...fileRecords, ...(this.sources.records ?? [])]) {
      if (byId.has(record.id)) throw new AuthError('API_KEYS_INVALID', `key id ${record.id} is both in the key file ${this.sources.file} and in server.api_keys`);
      byId.set(record.id, { record, hash: Buffer.from(record.sha256, 'hex') });
    }
    return byId;
  }
}
