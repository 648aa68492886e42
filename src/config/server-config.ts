// The server's configuration: every limit and scheduler setting, its default, its environment
// variable and what it means, in one table (FIELDS) that drives validation, defaults, `serve
// --print-config` and the README's table. A config file holds the same keys in JSON:
//   {"server": {"port": 8080}, "limits": {"max_pixels": 24000000},
//    "scheduler": {"max_batch": 16}, "models": {"iresnet50": {"max_batch": 8, "workers": 2}}}
// Precedence: defaults < config file < environment < command-line flags.
import { availableParallelism } from 'node:os';

import { DEVICES, type Device } from '../infer/devices.js';

export const ADMIN_ROUTE_MODES = ['loopback', 'any', 'off'] as const;
export type AdminRouteMode = (typeof ADMIN_ROUTE_MODES)[number];
export const EXECUTORS = ['worker', 'inline'] as const;
/** Micro-batching: auto (on for GPU providers, off on CPU: ../infer/session-plan.ts), on, off. */
export const BATCHING_MODES = ['auto', 'on', 'off'] as const;
export type BatchingMode = (typeof BATCHING_MODES)[number];
/** API keys: auto (required when the server listens beyond loopback), on, off. */
export const AUTH_MODES = ['auto', 'on', 'off'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** Where a model's onnxruntime sessions run: worker threads, or the main thread (async API). */
export type ExecutorKind = (typeof EXECUTORS)[number];

export interface ServerSection {
  port: number;
  /** Interface to listen on (default 127.0.0.1; 0.0.0.0 or :: for all interfaces). */
  host: string;
  models: string;
  device: Device;
  quiet: boolean;
  /** Who may POST /v1/models/{name}/load|unload. */
  adminRoutes: AdminRouteMode;
  /** A request not answered within this many ms is answered 504 DEADLINE_EXCEEDED. */
  requestDeadlineMs: number;
  /** The galleries folder; undefined: none (protoserve serve uses ./galleries). */
  galleries: string | undefined;
  /** Gallery log size that starts a new snapshot. */
  galleryCheckpointBytes: number;
  /** Whether requests need an API key (src/server/auth). */
  auth: AuthMode;
  /** The API key file (hashes and scopes, written by `protoserve keys create`). */
  apiKeyFile: string;
  /** More API key records, "<id>:<sha256>:<scope,...>" separated by spaces. */
  apiKeys: string | undefined;
  /** Browser origins allowed to call the API (comma-separated, or "*"); undefined: CORS off. */
  corsOrigins: string | undefined;
  /** json: one JSON object per line; text: plain lines. */
  logFormat: LogFormat;
  /** Whether GET /metrics answers (Prometheus text format). */
  metrics: boolean;
  /** A client must send its request headers within this many ms (else 408). */
  headersTimeoutMs: number;
  /** A client must send its whole request (headers and body) within this many ms (else 408). */
  requestTimeoutMs: number;
  /** On SIGTERM, in-flight requests get this long to finish before connections are cut. */
  shutdownGraceMs: number;
}

export interface LimitsSection {
  maxBodyBytes: number;
  /** sharp's limitInputPixels: images with more pixels are refused before decoding. */
  maxPixels: number;
  /** Faces aligned (and embedded) per request, largest first. */
  maxFaces: number;
  /** Largest ?top_k= a classification accepts. */
  maxTopK: number;
  /** Images decoded at once (decode worker threads). */
  concurrentDecodes: number;
  /** Images waiting for a decode worker before requests are refused with 503. */
  maxQueuedDecodes: number;
  /** Prediction requests in the server at once (body, decode, queue, inference) before 503. */
  maxInFlightRequests: number;
  /** Largest KServe v2 inference request body (raw tensors as JSON or binary data). */
  maxTensorBodyBytes: number;
}

/** How one model's requests are queued, gathered into batches and run. */
export interface SchedulerSettings {
  /** Gather concurrent requests into one run (only where the graph's batch dimension is dynamic); auto: on a GPU, not on CPU. */
  batching: BatchingMode;
  maxBatch: number;
  /** How long the first request of a batch may wait for others while a runner is idle. */
  maxDelayMs: number;
  /** Items (images) waiting for inference before requests are refused with 503. */
  maxQueue: number;
  executor: ExecutorKind;
  /** Sessions (worker threads) per model; each runs one batch at a time. 0: auto (../infer/session-plan.ts). */
  workers: number;
  /** onnxruntime intra-op threads per session; 0: auto (../infer/session-plan.ts). */
  intraOpThreads: number;
  /** Niceness of the inference threads (worker executor, Linux): the event loop and decoding go first. */
  inferenceNice: number;
}

export interface ServerConfig {
  server: ServerSection;
  limits: LimitsSection;
  scheduler: SchedulerSettings;
  /** Per-model overrides of the scheduler settings, by model name. */
  models: Record<string, Partial<SchedulerSettings>>;
}

export type SectionName = 'server' | 'limits' | 'scheduler';

interface FieldBase {
  section: SectionName;
  /** The key in the config file (snake_case, as Triton's model config spells them). */
  key: string;
  /** The property of the typed config. */
  prop: string;
  doc: string;
  /** Environment variables read besides PROTOSERVE_<SECTION>_<KEY> (e.g. PORT). */
  aliases?: string[];
}
export type Field =
  | (FieldBase & { kind: 'int'; default: number; min: number; max: number })
  | (FieldBase & { kind: 'bool'; default: boolean })
  | (FieldBase & { kind: 'enum'; default: string; values: readonly string[]; /** The values true and false stand for, where a switch became an enum. */ booleans?: { true: string; false: string } })
  | (FieldBase & { kind: 'string'; default: string | undefined });

const MiB = 1024 * 1024;
/** Decode workers by default: one per core, at least 2 so one slow image does not stall the rest. */
const DEFAULT_DECODES = Math.max(2, Math.min(8, availableParallelism()));

export const FIELDS: readonly Field[] = [
  { section: 'server', key: 'port', prop: 'port', kind: 'int', default: 8080, min: 0, max: 65535, aliases: ['PORT'], doc: 'port; 0 picks a free one' },
  { section: 'server', key: 'host', prop: 'host', kind: 'string', default: '127.0.0.1', aliases: ['HOST'], doc: 'interface to listen on: this machine only by default; 0.0.0.0 (or ::) for every interface, which requires API keys (server.auth)' },
  { section: 'server', key: 'models', prop: 'models', kind: 'string', default: 'models', doc: 'the models folder (<name>/model.onnx + manifest.json)' },
  { section: 'server', key: 'device', prop: 'device', kind: 'enum', default: 'auto', values: DEVICES, doc: 'auto: cuda when its provider loads, else cpu' },
  { section: 'server', key: 'quiet', prop: 'quiet', kind: 'bool', default: false, doc: 'no per-request log lines' },
  { section: 'server', key: 'admin_routes', prop: 'adminRoutes', kind: 'enum', default: 'loopback', values: ADMIN_ROUTE_MODES, doc: 'who may POST /v1/models/{name}/load|unload: loopback clients, any client, or nobody' },
  { section: 'server', key: 'request_deadline_ms', prop: 'requestDeadlineMs', kind: 'int', default: 30_000, min: 1, max: 3_600_000, doc: 'a prediction not answered by then gets 504 DEADLINE_EXCEEDED (a request may ask for less with X-Request-Deadline-Ms)' },
  { section: 'server', key: 'galleries', prop: 'galleries', kind: 'string', default: undefined, aliases: ['GALLERIES'], doc: 'the galleries folder, created if missing (`protoserve serve`: ./galleries when unset; without one, gallery routes answer 503)' },
  { section: 'server', key: 'gallery_checkpoint_bytes', prop: 'galleryCheckpointBytes', kind: 'int', default: 64 * MiB, min: 1024, max: 1024 * 1024 * MiB, doc: "a gallery's write-ahead log size that starts a new snapshot (smaller: faster restarts, more snapshot writes)" },
  { section: 'server', key: 'auth', prop: 'auth', kind: 'enum', default: 'auto', values: AUTH_MODES, doc: 'API keys: auto (required when listening beyond loopback), on, or off (no keys, even on 0.0.0.0)' },
  { section: 'server', key: 'api_key_file', prop: 'apiKeyFile', kind: 'string', default: 'api-keys.json', doc: 'API key file: ids, scopes and sha256 hashes, never the keys (`protoserve keys create`)' },
  { section: 'server', key: 'api_keys', prop: 'apiKeys', kind: 'string', default: undefined, aliases: ['PROTOSERVE_API_KEYS'], doc: 'more API keys as hashed records "<id>:<sha256>:<scope>,..." separated by spaces (`protoserve keys create --record`)' },
  { section: 'server', key: 'cors_origins', prop: 'corsOrigins', kind: 'string', default: undefined, doc: 'browser origins allowed to call the API, comma-separated (https://app.example.com), or *; unset: CORS off' },
  { section: 'server', key: 'log_format', prop: 'logFormat', kind: 'enum', default: 'json', values: LOG_FORMATS, doc: 'json: one object per line (time, level, msg, request_id, route, status, duration_ms, ...); text: plain lines' },
  { section: 'server', key: 'metrics', prop: 'metrics', kind: 'bool', default: true, doc: 'GET /metrics in the Prometheus text format (needs the metrics scope when keys are on)' },
  { section: 'server', key: 'headers_timeout_ms', prop: 'headersTimeoutMs', kind: 'int', default: 10_000, min: 100, max: 600_000, doc: 'a client must send its request headers within this time, else 408 REQUEST_TIMEOUT (slow clients)' },
  { section: 'server', key: 'request_timeout_ms', prop: 'requestTimeoutMs', kind: 'int', default: 60_000, min: 100, max: 3_600_000, doc: 'a client must send its whole request, body included, within this time, else 408 REQUEST_TIMEOUT' },
  { section: 'server', key: 'shutdown_grace_ms', prop: 'shutdownGraceMs', kind: 'int', default: 10_000, min: 0, max: 600_000, doc: 'on SIGTERM, in-flight requests get this long to finish before their connections are cut' },
  { section: 'limits', key: 'max_body_bytes', prop: 'maxBodyBytes', kind: 'int', default: 10 * MiB, min: 1024, max: 1024 * MiB, doc: 'largest image upload (each file of a verification)' },
  { section: 'limits', key: 'max_pixels', prop: 'maxPixels', kind: 'int', default: 24_000_000, min: 1, max: 1_073_741_824, doc: "largest decoded image in pixels (sharp's limitInputPixels; 24 Mpx is a 6000x4000 photo)" },
  { section: 'limits', key: 'max_faces', prop: 'maxFaces', kind: 'int', default: 32, min: 1, max: 10_000, doc: 'faces aligned and embedded per photo, largest first' },
  { section: 'limits', key: 'max_top_k', prop: 'maxTopK', kind: 'int', default: 1000, min: 1, max: 1_000_000, doc: 'largest ?top_k= of a classification' },
  { section: 'limits', key: 'concurrent_decodes', prop: 'concurrentDecodes', kind: 'int', default: DEFAULT_DECODES, min: 1, max: 256, doc: 'images decoded at once, each in a worker thread (default: one per core, 2 to 8)' },
  { section: 'limits', key: 'max_queued_decodes', prop: 'maxQueuedDecodes', kind: 'int', default: 256, min: 0, max: 100_000, doc: 'images waiting for a decode worker before 503 OVERLOADED' },
  { section: 'limits', key: 'max_in_flight_requests', prop: 'maxInFlightRequests', kind: 'int', default: 256, min: 1, max: 100_000, doc: 'prediction requests in the server at once before 503 OVERLOADED (checked before the body is read)' },
  { section: 'limits', key: 'max_tensor_body_bytes', prop: 'maxTensorBodyBytes', kind: 'int', default: 32 * MiB, min: 1024, max: 1024 * MiB, doc: 'largest KServe v2 inference request (POST /v2/models/{name}/infer): raw tensors as JSON text (about 20 bytes a float) or binary data' },
  { section: 'scheduler', key: 'batching', prop: 'batching', kind: 'enum', default: 'auto', values: BATCHING_MODES, booleans: { true: 'on', false: 'off' }, doc: "gather concurrent requests into one onnxruntime run (only where the graph's batch dimension is dynamic): auto is on where a GPU provider runs the model and off on CPU, where batches ran no faster than single images and made the event loop's stalls longer; on (true) or off (false) to choose" },
  { section: 'scheduler', key: 'max_batch', prop: 'maxBatch', kind: 'int', default: 16, min: 1, max: 4096, doc: 'most images in one run' },
  { section: 'scheduler', key: 'max_delay_ms', prop: 'maxDelayMs', kind: 'int', default: 0, min: 0, max: 10_000, doc: 'how long a lone request waits for batch-mates while a runner is idle; under load batches form from the queue anyway' },
  { section: 'scheduler', key: 'max_queue', prop: 'maxQueue', kind: 'int', default: 128, min: 1, max: 100_000, doc: 'images waiting for inference per model before 503 OVERLOADED' },
  { section: 'scheduler', key: 'executor', prop: 'executor', kind: 'enum', default: 'worker', values: EXECUTORS, doc: "where sessions run: worker threads, or onnxruntime's async API on the main thread" },
  { section: 'scheduler', key: 'workers', prop: 'workers', kind: 'int', default: 0, min: 0, max: 64, doc: 'sessions per model (worker threads), each running one batch at a time; 0 (auto): one per core up to 4 on CPU, 1 on a GPU' },
  { section: 'scheduler', key: 'intra_op_threads', prop: 'intraOpThreads', kind: 'int', default: 0, min: 0, max: 256, doc: 'onnxruntime intra-op threads per session; 0 (auto): the cores divided among the CPU sessions, at least 1' },
  { section: 'scheduler', key: 'inference_nice', prop: 'inferenceNice', kind: 'int', default: 10, min: 0, max: 19, doc: 'niceness of the inference threads (worker executor, Linux): when the cores are busy, routing, health checks and decoding get the CPU first; 0: same priority' },
];

/** The environment variable of a field: PROTOSERVE_<SECTION>_<KEY>. */
export function envName(field: Pick<Field, 'section' | 'key'>): string {
  return `PROTOSERVE_${field.section}_${field.key}`.toUpperCase();
}

/** Every field at its default. */
export function defaultConfig(): ServerConfig {
  const sections: Record<SectionName, Record<string, unknown>> = { server: {}, limits: {}, scheduler: {} };
  for (const f of FIELDS) sections[f.section][f.prop] = f.default;
  return { ...(sections as unknown as Omit<ServerConfig, 'models'>), models: {} };
}

/** The scheduler settings of one model: the defaults with that model's overrides. */
export function schedulerSettingsFor(config: Pick<ServerConfig, 'scheduler' | 'models'>, model: string): SchedulerSettings {
  return { ...config.scheduler, ...config.models[model] };
}
