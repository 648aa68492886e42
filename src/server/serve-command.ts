// `protoserve serve`: flags and environment -> startServer. Resolves when the server has closed
// (SIGINT / SIGTERM, or the abort signal tests pass), so `await serveCommand(argv)` means "serve".
import { parseArgs } from 'node:util';

import { ProtoserveError, messageOf } from '../errors.js';
import { DEVICES, parseDevice } from '../infer/devices.js';
import { DEFAULT_MAX_BODY_BYTES } from './content-type-parser.js';
import { startServer, type RunningServer } from './server.js';

export const SERVE_USAGE = `Usage: protoserve serve [options]

Loads every model artifact (<models>/<name>/model.onnx + manifest.json) and answers HTTP.

Options:
  --models <dir>       models folder (default ./models)
  --port <n>           port, 0 for any free one (default $PORT or 8080)
  --host <addr>        interface to listen on (default $HOST or all interfaces)
  --device <name>      ${DEVICES.join(' | ')} (default auto: cuda if it loads, else cpu)
  --max-body-mb <n>    largest accepted image upload in MB (default ${DEFAULT_MAX_BODY_BYTES / 1024 / 1024})
  --quiet              no per-request log lines
  -h, --help           this help

Endpoints:
  GET  /v2/health/live              200 once listening
  GET  /v2/health/ready             200 once every model ran one inference, else 503
  GET  /v1/models                   served models, with the execution provider of each
  GET  /v1/models/{name}            a model's manifest
  POST /v1/models/{name}/classify   image (multipart field "image", or raw image/* body) -> top-k labels; ?top_k=5
  POST /v1/models/{name}/embed      image -> L2-normalized embedding (embedders); a whole photo
                                    (?input=photo, or the manifest's face.input) -> every face's
                                    box, score, keypoints and embedding
  POST /v1/models/{name}/verify     image1 + image2 (multipart) -> cosine similarity and the decision
                                    at the model's operating points; ?far=1e-4 (embedders); photos:
                                    the largest face of each, or ?face1= / ?face2=
  POST /v1/models/{name}/detect     photo -> every face's box, score and keypoints in the photo's
                                    pixels; ?score_threshold= ?max_faces= (detectors)`;

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
        models: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        device: { type: 'string' },
        'max-body-mb': { type: 'string' },
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

  const portText = values.port ?? process.env.PORT ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw invalid(`--port${values.port === undefined ? ' (from $PORT)' : ''}: expected an integer from 0 to 65535, got "${portText}"`);
  }
  let maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
  if (values['max-body-mb'] !== undefined) {
    const mb = Number(values['max-body-mb']);
    if (!Number.isFinite(mb) || mb <= 0 || mb > 1024) throw invalid(`--max-body-mb: expected a number of MB in (0, 1024], got "${values['max-body-mb']}"`);
    maxBodyBytes = Math.round(mb * 1024 * 1024);
  }
  const device = parseDevice(values.device ?? 'auto');

  const running = await startServer({
    modelsDir: values.models ?? 'models',
    port,
    host: values.host ?? process.env.HOST,
    device,
    maxBodyBytes,
    quiet: values.quiet ?? false,
    log,
    logError: hooks.logError,
  });
  hooks.onListening?.(running);

  await new Promise<void>((resolve) => {
    const stop = (why: string) => {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      hooks.signal?.removeEventListener('abort', onAbort);
      log(`${why}: closing`);
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
