// `protoserve keys`: create, list and revoke API keys. A new key is printed once, on stdout, and
// only its sha256, id and scopes are kept (in the key file, or printed as a record for
// PROTOSERVE_API_KEYS); a running server picks key file changes up within seconds.
import { parseArgs } from 'node:util';

import { ProtoserveError, messageOf } from '../../errors.js';
import { SCOPES, generateApiKey, hashApiKey } from './api-key.js';
import { AuthError } from './auth-error.js';
import { formatKeyRecord, parseScopes, readKeyFile, writeKeyFile, type ApiKeyRecord } from './key-store.js';

const DEFAULT_FILE = 'api-keys.json';

export const KEYS_USAGE = `Usage:
  protoserve keys create --scopes <scope,...> [--name <label>] [--file <path>] [--record]
      make a key, print it once, store its hash (the key file is created, mode 0600)
      --record: store nothing; print the key and its record "<id>:<sha256>:<scopes>"
      for PROTOSERVE_API_KEYS (several records separated by spaces)
  protoserve keys list [--file <path>]     ids, names, scopes and dates (never a key)
  protoserve keys revoke <id> [--file <path>]

Scopes: ${SCOPES.join(', ')} (admin implies every other).
The key file defaults to ./${DEFAULT_FILE} (server.api_key_file, PROTOSERVE_SERVER_API_KEY_FILE).
Clients send a key as "Authorization: Bearer <key>" or "X-API-Key: <key>".`;

export interface KeysCommandIo {
  /** Where the key and listings go (default console.log). */
  out?: (line: string) => void;
  /** Where notes for the person at the terminal go (default console.error). */
  note?: (line: string) => void;
}

export async function keysCommand(argv: string[], io: KeysCommandIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const note = io.note ?? ((line: string) => console.error(line));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        scopes: { type: 'string' },
        name: { type: 'string' },
        file: { type: 'string' },
        record: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw invalid(messageOf(err));
  }
  const { values, positionals } = parsed;
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) {
    out(KEYS_USAGE);
    return values.help ? 0 : 2;
  }
  const file = values.file ?? process.env.PROTOSERVE_SERVER_API_KEY_FILE ?? DEFAULT_FILE;
  if (action === 'create') {
    if (rest.length) throw invalid(`create takes no positional arguments, got "${rest.join(' ')}"`);
    if (!values.scopes) throw invalid(`create needs --scopes, some of ${SCOPES.join(', ')}`);
    const scopes = parseScopes(values.scopes, '--scopes');
    if (values.name !== undefined && values.name.length > 64) throw invalid('--name: at most 64 characters');
    const { id, key } = generateApiKey();
    const record: ApiKeyRecord = { id, scopes, sha256: hashApiKey(key).toString('hex'), ...(values.name ? { name: values.name } : {}), created: new Date().toISOString() };
    if (values.record) {
      out(`key:    ${key}`);
      out(`record: ${formatKeyRecord(record)}`);
      out('Keep the key secret and give it to the client; put the record in PROTOSERVE_API_KEYS. The key is not shown again.');
      return 0;
    }
    const records = (await readKeyFile(file)) ?? [];
    await writeKeyFile(file, [...records, record]);
    out(key);
    note(`key ${id} (${scopes.join(', ')}) added to ${file}; the key is printed once, above, and only its hash is stored`);
    return 0;
  }
  if (action === 'list') {
    const records = (await readKeyFile(file)) ?? [];
    out(`${file}: ${records.length} key${records.length === 1 ? '' : 's'}`);
    for (const r of records) out(`  ${r.id}  ${r.scopes.join(',').padEnd(24)}  ${r.created ?? '-'}  ${r.name ?? ''}`.trimEnd());
    return 0;
  }
  if (action === 'revoke') {
    const [id] = rest;
    if (!id || rest.length > 1) throw invalid('revoke takes one key id (see protoserve keys list)');
    const records = (await readKeyFile(file)) ?? [];
    if (!records.some((r) => r.id === id)) throw new AuthError('API_KEY_NOT_FOUND', `no key ${id} in ${file}; its keys: ${records.map((r) => r.id).join(', ') || '(none)'}`);
    await writeKeyFile(file, records.filter((r) => r.id !== id));
    out(`key ${id} revoked (a running server stops accepting it within a few seconds)`);
    return 0;
  }
  throw invalid(`unknown action "${action}"; expected create, list or revoke`);
}

function invalid(message: string): ProtoserveError {
  return new ProtoserveError('INVALID_ARGUMENT', `keys: ${message}. Run \`protoserve keys --help\`.`);
}
