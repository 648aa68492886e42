// Reads the server configuration once at start: defaults, then the config file (--config or
// $PROTOSERVE_CONFIG), then the environment, then command-line flags. Every value is checked
// against its field in FIELDS; a wrong one stops the start with a message naming the field and
// where the value came from (`limits.max_pixels (config file /etc/ps.json): expected an integer
// from 1 to 1073741824, got "many"`). Unknown keys are refused too: a typo must not silently
// leave a limit at its default.
import { readFile } from 'node:fs/promises';

import { hasCode, InvariantError, messageOf, ProtoserveError } from '../errors.js';
import { defaultConfig, envName, FIELDS, type Field, type SchedulerSettings, type SectionName, type ServerConfig } from './server-config.js';

export class ConfigError extends ProtoserveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', message, options);
  }
}

export interface LoadConfigOptions {
  /** Path of a JSON config file. */
  file?: string;
  /** Environment to read overrides from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, by field ('server.port': '0'); they win over everything. */
  flags?: Record<string, string | boolean | undefined>;
}

const SECTIONS: readonly SectionName[] = ['server', 'limits', 'scheduler'];
const SCHEDULER_FIELDS = FIELDS.filter((f) => f.section === 'scheduler');

export async function loadServerConfig(options: LoadConfigOptions = {}): Promise<ServerConfig> {
  const env = options.env ?? process.env;
  const config = defaultConfig();
  const file = options.file ?? (env.PROTOSERVE_CONFIG || undefined);
  if (file) applyFile(config, await readConfigFile(file), `config file ${file}`);

  for (const field of FIELDS) {
    for (const name of [...(field.aliases ?? []), envName(field)]) {
      const raw = env[name];
      if (raw !== undefined && raw !== '') set(config, field, parseValue(field, raw, `$${name}`, true));
    }
  }
  for (const [path, raw] of Object.entries(options.flags ?? {})) {
    if (raw === undefined) continue;
    const field = FIELDS.find((f) => `${f.section}.${f.key}` === path);
    if (!field) throw new InvariantError(`loadServerConfig: no field ${path}`);
    set(config, field, parseValue(field, raw, 'command line', true));
  }
  return config;
}

async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const why = hasCode(err) && err.code === 'ENOENT' ? 'no such file' : messageOf(err);
    throw new ConfigError(`Cannot read config file ${path}: ${why}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Config file ${path} is not valid JSON: ${messageOf(err)}`, { cause: err });
  }
}

function applyFile(config: ServerConfig, json: unknown, source: string): void {
  const root = objectAt(json, '(top level)', source);
  for (const [name, value] of Object.entries(root)) {
    if (name === 'models') {
      applyModelOverrides(config, value, source);
      continue;
    }
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new ConfigError(`${name} (${source}): unknown section; expected ${[...SECTIONS, 'models'].join(', ')}`);
    }
    const section = name as SectionName;
    for (const [key, raw] of Object.entries(objectAt(value, section, source))) {
      const field = FIELDS.find((f) => f.section === section && f.key === key);
      if (!field) throw unknownKey(`${section}.${key}`, FIELDS.filter((f) => f.section === section), source);
      set(config, field, parseValue(field, raw, source));
    }
  }
}

/** "models": {"<model name>": {<scheduler keys>}}. */
function applyModelOverrides(config: ServerConfig, value: unknown, source: string): void {
  for (const [model, overrides] of Object.entries(objectAt(value, 'models', source))) {
    const settings: Partial<SchedulerSettings> = {};
    for (const [key, raw] of Object.entries(objectAt(overrides, `models.${model}`, source))) {
      const field = SCHEDULER_FIELDS.find((f) => f.key === key);
      if (!field) throw unknownKey(`models.${model}.${key}`, SCHEDULER_FIELDS, source);
      (settings as Record<string, unknown>)[field.prop] = parseValue({ ...field, key: `${model}.${key}`, section: 'models' as SectionName }, raw, source);
    }
    config.models[model] = settings;
  }
}

function objectAt(value: unknown, path: string, source: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${path} (${source}): expected an object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function unknownKey(path: string, known: readonly Field[], source: string): ConfigError {
  return new ConfigError(`${path} (${source}): unknown key; expected one of ${known.map((f) => f.key).join(', ')}`);
}

function set(config: ServerConfig, field: Field, value: unknown): void {
  (config[field.section] as unknown as Record<string, unknown>)[field.prop] = value;
}

/**
 * A file value (JSON, of the field's own type) or a string (environment, flags: `text`) -> the
 * field's type, or ConfigError.
 */
function parseValue(field: Field, raw: unknown, source: string, text = false): unknown {
  const name = `${field.section}.${field.key} (${source})`;
  const got = JSON.stringify(raw);
  switch (field.kind) {
    case 'int': {
      const n = text && typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < field.min || n > field.max) {
        throw new ConfigError(`${name}: expected an integer from ${field.min} to ${field.max}, got ${got}`);
      }
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (text && typeof raw === 'string' && /^(true|1|yes)$/i.test(raw)) return true;
      if (text && typeof raw === 'string' && /^(false|0|no)$/i.test(raw)) return false;
      throw new ConfigError(`${name}: expected true or false, got ${got}`);
    }
    case 'enum': {
      if (typeof raw === 'string' && field.values.includes(raw)) return raw;
      const { booleans } = field;
      if (booleans && (raw === true || (text && raw === 'true'))) return booleans.true;
      if (booleans && (raw === false || (text && raw === 'false'))) return booleans.false;
      throw new ConfigError(`${name}: expected one of ${field.values.join(', ')}${booleans ? ' (or true, false)' : ''}, got ${got}`);
    }
    case 'string': {
      if (raw === null && field.default === undefined) return undefined;
      if (typeof raw === 'string' && raw !== '') return raw;
      throw new ConfigError(`${name}: expected a non-empty string, got ${got}`);
    }
  }
}

/** The configuration as a config file would hold it (snake_case keys), for --print-config. */
export function configToJson(config: ServerConfig): Record<string, unknown> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const f of FIELDS) {
    const value = (config[f.section] as unknown as Record<string, unknown>)[f.prop];
    (out[f.section] ??= {})[f.key] = value ?? null;
  }
  const models: Record<string, Record<string, unknown>> = {};
  for (const [model, overrides] of Object.entries(config.models)) {
    models[model] = {};
    for (const f of SCHEDULER_FIELDS) {
      const value = (overrides as Record<string, unknown>)[f.prop];
      if (value !== undefined) models[model][f.key] = value;
    }
  }
  return { ...out, models };
}
