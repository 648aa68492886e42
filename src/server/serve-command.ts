// `protoserve serve`: flags and environment -> startServer. Resolves when the server has closed
// (SIGINT / SIGTERM, or the abort signal tests pass), so `await serveCommand(argv)` means "serve".
import { parseArgs } from 'node:util';

import { configToJson, loadServerConfig } from '../config/load-server-config.js';
import { ProtoserveError, messageOf } from '../errors.js';
import { DEVICES, parseDevice } from '../infer/devices.js';
import { DEFAULT_MAX_BODY_BYTES } from './content-type-parser.js';
import { consoleSink } from './log-sink.js';
import { startServer, type RunningServer } from './server.js';

export const SERVE_USAGE = `Usage: protoserve serve [options]

Loads every model artifact (<models>/<name>/model.onnx + manifest.json) and answers HTTP.

Options:
  --config <file>      JSON config file: limits, deadlines, scheduler settings per model
                       (default $PROTOSERVE_CONFIG; every key, its default and its environment
                       variable: README "Configuration"); flags win over the environment,
                       the environment over the file
  --print-config       print the configuration in effect (defaults, file, environment, flags) and exit
  --models <dir>       models folder (default ./models)
  --galleries <dir>    galleries folder, created if missing (default $GALLERIES or ./galleries)
  --port <n>           port, 0 for any free one (default $PORT or 8080)
  --host <addr>        interface to listen on (default $HOST or 127.0.0.1, this machine only;
                       0.0.0.0 for every interface, which requires API keys: protoserve keys create)
  --auth <mode>        API keys: auto (required beyond loopback; default), on, off
  --api-key-file <f>   the API key file (default ./api-keys.json)
  --cors-origins <o>   browser origins allowed to call the API (comma-separated, or *); default off
  --log-format <f>     json (default: one object per line, with request_id) | text
  --device <name>      ${DEVICES.join(' | ')} (default auto: cuda if it loads, else cpu)
  --max-body-mb <n>    largest accepted image upload in MB (default ${DEFAULT_MAX_BODY_BYTES / 1024 / 1024})
  --quiet              no per-request log lines
  -h, --help           this help

Endpoints:
  GET  /v2/health/live              200 once listening
  GET  /v2/health/ready             200 once every loaded model is ready, else 503; each model's state
  GET  /metrics                     Prometheus metrics (scope metrics when keys are on)
  GET  /v1/models                   served models, with the execution provider of each
  GET  /v1/models/{name}            a model's manifest
  POST /v1/models/{name}/classify   image (multipart field "image", or raw image/* body) -> top-k labels; ?top_k=5
  POST /v1/models/{name}/embed      image -> L2-normalized embedding (embedders); a whole photo
                                    (?input=photo, or the manifest's face.input) -> every face's
                                    box, score, keypoints and embedding
  POST /v1/models/{name}/verify     image1 + image2 (multipart) -> cosine similarity and the decision
                                    at the model's operating points; ?far=1e-4 or ?threshold= (embedders); photos:
                                    the largest face of each, or ?face1= / ?face2=
  POST /v1/models/{name}/detect     photo -> every face's box, score and keypoints in the photo's
                                    pixels; ?score_threshold= ?max_faces= (detectors)
  POST /v1/models/{name}/load       (re)load a model from the models folder: retry a failed one, pick up a new one
  POST /v1/models/{name}/unload     unload a model (admin routes: loopback clients only by default)
  POST|GET /v1/galleries            create {name, model, index?, metadata?} | list galleries
  GET|DELETE /v1/galleries/{g}      a gallery (its model, index, counts) | delete it
  POST|GET /v1/galleries/{g}/identities            create {id, metadata?} | list (?limit=&cursor=)
  GET|PATCH|DELETE /v1/galleries/{g}/identities/{id}
  POST|GET /v1/galleries/{g}/identities/{id}/faces enrol face images (field "image", optional
                                    "landmarks", or ?input=photo) | list faces; DELETE .../faces/{face}
  POST /v1/galleries/{g}/identify   faces -> top-k identities each (?k=5), unknown below the threshold
  POST /v1/galleries/{g}/identities/{id}/verify    faces -> similarity to the identity's prototype`;

export interface ServeCommandHooks {
  /** Closes the server when aborted (tests; programmatic use). */
  signal?: AbortSignal;
  /** Called once the server listens. */
  onListening?: (server: RunningServer) => void;
  log?: (line: string) => void;
  logError?: (line: string) => void;
}

export async function serveCommand(argv: string[], hooks: ServeCommandHooks = {}): Promise<void> {
  const log = hooks.log ?? ((line: string) => console.log(line));
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        'print-config': { type: 'boolean' },
        models: { type: 'string' },
        galleries: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        device: { type: 'string' },
        'max-body-mb': { type: 'string' },
        auth: { type: 'string' },
        'api-key-file': { type: 'string' },
        'cors-origins': { type: 'string' },
        'log-format': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw invalid(messageOf(err));
  }
  if (values.help) {
    log(SERVE_USAGE);
    return;
  }

  if (values.port !== undefined && (!/^\d+$/.test(values.port) || Number(values.port) > 65535)) {
    throw invalid(`--port: expected an integer from 0 to 65535, got "${values.port}"`);
  }
  let maxBodyBytes: number | undefined;
  if (values['max-body-mb'] !== undefined) {
    const mb = Number(values['max-body-mb']);
    if (!Number.isFinite(mb) || mb <= 0 || mb > 1024) throw invalid(`--max-body-mb: expected a number of MB in (0, 1024], got "${values['max-body-mb']}"`);
    maxBodyBytes = Math.round(mb * 1024 * 1024);
  }
  if (values.device !== undefined) parseDevice(values.device);

  const config = await loadServerConfig({
    file: values.config,
    flags: {
      'server.models': values.models,
      'server.galleries': values.galleries,
      'server.port': values.port,
      'server.host': values.host,
      'server.device': values.device,
      'server.quiet': values.quiet,
      'server.auth': values.auth,
      'server.api_key_file': values['api-key-file'],
      'server.cors_origins': values['cors-origins'],
      'server.log_format': values['log-format'],
      'limits.max_body_bytes': maxBodyBytes === undefined ? undefined : String(maxBodyBytes),
    },
  });
  // `protoserve serve` keeps galleries in ./galleries unless told otherwise.
  config.server.galleries ??= 'galleries';
  if (values['print-config']) {
    log(JSON.stringify(configToJson(config), null, 2));
    return;
  }

  // Server lines (the closing one included) go out in server.log_format unless a hook takes them.
  const serverLog = hooks.log ?? consoleSink(config.server.logFormat, 'info');
  const running = await startServer({ config, log: serverLog, logError: hooks.logError });
  hooks.onListening?.(running);

  await new Promise<void>((resolve) => {
    const stop = (why: string) => {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      hooks.signal?.removeEventListener('abort', onAbort);
      serverLog(`${why}: closing`);
      running.close().then(resolve, resolve);
    };
    const onSigint = () => stop('SIGINT');
    const onSigterm = () => stop('SIGTERM');
    const onAbort = () => stop('stopped');
    process.once('SIGINT', onSigint);
    process.once('SIGTERM', onSigterm);
    if (hooks.signal?.aborted) return onAbort();
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function invalid(message: string): ProtoserveError {
  return new ProtoserveError('INVALID_ARGUMENT', `serve: ${message}. Run \`protoserve serve --help\` for the options.`);
}
