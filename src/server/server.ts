// Starts the HTTP server on a models folder: reads every artifact (broken ones are reported and
// skipped), starts each model's sessions on the device per its scheduler settings and says
// which execution provider runs each, decides whether API keys are required, listens (with
// timeouts for slow clients), then warms every model up (readiness turns 200 after that).
// close() is the graceful shutdown SIGTERM runs: no new connections, in-flight requests finish
// (for up to server.shutdown_grace_ms), then the models, decoders and galleries close.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { defaultConfig, type ServerConfig } from '../config/server-config.js';
import { ConfigError } from '../config/load-server-config.js';
import { ProtoserveError, hasCode, messageOf } from '../errors.js';
import { Galleries } from '../gallery/gallery-registry.js';
import { DecodePool } from '../infer/decode-pool.js';
import { parseDevice, type Device } from '../infer/devices.js';
import { createApp } from './app.js';
import { AccessControl } from './auth/access-control.js';
import { answerClientErrors } from './client-errors.js';
import { parseOrigins } from './cors-policy.js';
import { consoleSink, type LogSink } from './log-sink.js';
import { isLoopbackAddress } from './loopback.js';
import { ModelPool } from './model-pool.js';
import { ServerMetrics } from './server-metrics.js';

export interface StartServerOptions {
  /** Every setting (default: each at its default); the options below override it. */
  config?: ServerConfig;
  /** Folder holding <model>/manifest.json + model.onnx (default ./models). */
  modelsDir?: string;
  /** The galleries folder (created if missing); default config.server.galleries, none if unset. */
  galleriesDir?: string;
  /** 0 picks a free port (default 8080). */
  port?: number;
  /** Interface to listen on (default config.server.host: 127.0.0.1). */
  host?: string;
  /** auto | cpu | cuda | webgpu (default auto). */
  device?: Device | string;
  /** Largest request body / image, in bytes (default 10 MiB). */
  maxBodyBytes?: number;
  maxPixels?: number;
  /** No per-request log lines (start-up lines are still written). */
  quiet?: boolean;
  /** Where start-up and request lines go (default stdout, in config.server.log_format). */
  log?: LogSink;
  /** Where warnings and 5xx details go (default stderr, in config.server.log_format). */
  logError?: LogSink;
}

export interface RunningServer {
  server: Server;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  pool: ModelPool;
  galleries?: Galleries;
  access: AccessControl;
  metrics?: ServerMetrics;
  /** Resolves when every model finished its warm-up (never rejects; see pool.readiness()). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const base = options.config ?? defaultConfig();
  const log = options.log ?? consoleSink(base.server.logFormat, 'info');
  const logError = options.logError ?? consoleSink(base.server.logFormat, 'error');
  const config: ServerConfig = {
    ...base,
    server: {
      ...base.server,
      models: options.modelsDir ?? base.server.models,
      port: options.port ?? base.server.port,
      host: options.host ?? base.server.host,
      device: parseDevice(options.device ?? base.server.device),
      quiet: options.quiet ?? base.server.quiet,
      galleries: options.galleriesDir ?? base.server.galleries,
    },
    limits: { ...base.limits, maxBodyBytes: options.maxBodyBytes ?? base.limits.maxBodyBytes, maxPixels: options.maxPixels ?? base.limits.maxPixels },
  };
  const { device } = config.server;
  if (config.server.headersTimeoutMs > config.server.requestTimeoutMs) {
    throw new ConfigError(`server.headers_timeout_ms (${config.server.headersTimeoutMs}) must not exceed server.request_timeout_ms (${config.server.requestTimeoutMs}): headers are part of the request`);
  }
  if (config.server.corsOrigins !== undefined) parseOrigins(config.server.corsOrigins);
  // Refuse a server that would be open to the network by mistake before loading any model.
  const access = await AccessControl.fromConfig(config.server);
  const pool = await ModelPool.open({ modelsDir: config.server.models, device, config, log, logError });
  if (pool.list().length === 0) logError(`no servable models in ${config.server.models}: /v2/health/ready will answer 503`);

  let galleries: Galleries | undefined;
  if (config.server.galleries !== undefined) {
    try {
      galleries = await Galleries.open(config.server.galleries, { checkpointBytes: config.server.galleryCheckpointBytes, warn: logError });
    } catch (err) {
      await pool.release();
      throw err;
    }
    for (const g of galleries.unavailable()) logError(`gallery ${g.name} unavailable: ${g.code}: ${g.message}`);
    const open = galleries.list();
    log(`galleries in ${galleries.dir}: ${open.length ? open.map((g) => `${g.name} (${g.identityCount} identities, model ${g.meta.model.name})`).join(', ') : 'none yet'}`);
  }

  const { limits } = config;
  const decoders = new DecodePool({ concurrency: limits.concurrentDecodes, maxQueued: limits.maxQueuedDecodes, maxPixels: limits.maxPixels, maxFaces: limits.maxFaces });
  decoders.start();
  const metrics = config.server.metrics ? new ServerMetrics({ pool, galleries, decoders }, { processMetrics: true }) : undefined;
  const app = createApp({ models: pool, config, decoders, galleries, quiet: config.server.quiet, log, logError, access, metrics });

  const { port, host, headersTimeoutMs, requestTimeoutMs } = config.server;
  // Node checks these timeouts every connectionsCheckingInterval (30 s by default): check often
  // enough that a slow client is cut close to its limit.
  const server = createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4))) }, app);
  answerClientErrors(server, {
    headersTimeoutMs,
    requestTimeoutMs,
    onRefused: (error, remote) => {
      metrics?.countRefused(error.code);
      log(`refused ${error.statusCode} ${error.code} from ${remote ?? '?'}`, { status: error.statusCode, error: error.code, remote });
    },
  });
  const drain = drainer(server);
  server.listen(port, host);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    await Promise.all([pool.release(), decoders.close(), galleries?.close()]);
    metrics?.close();
    const where = `${host}:${port}`;
    const hint = hasCode(err) && err.code === 'EADDRINUSE' ? ' (port in use: pass --port or set PORT)' : '';
    throw new ProtoserveError('LISTEN_FAILED', `Cannot listen on ${where}: ${messageOf(err)}${hint}`, { cause: err });
  }
  const address = server.address() as AddressInfo;
  const shownHost = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`;
  const scope = shownHost === host ? '' : 'all interfaces, ';
  const served = pool.list().length;
  log(`listening on ${scope}${url} (${served} model${served === 1 ? '' : 's'}, device ${device})`);
  (access.required || isLoopbackAddress(host) ? log : logError)(access.why);
  if (config.server.corsOrigins) log(`CORS: browser pages from ${config.server.corsOrigins} may call the API`);
  access.keys?.watch({ onReload: (n) => log(`API key file reloaded: ${n} key${n === 1 ? '' : 's'}`), onError: (m) => logError(m) });

  const ready = pool.warmup((m) => {
    if (m.state === 'failed') logError(`warm-up of ${m.session.name} failed: ${m.reason}`);
  }).then(() => {
    const r = pool.readiness();
    if (r.ready) log(`ready: ${pool.names().join(', ')}`);
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      drain();
      await new Promise<void>((resolve) => {
        // In-flight requests get server.shutdown_grace_ms to finish (their answers close their
        // connections); idle keep-alive sockets go at once.
        const force = setTimeout(() => server.closeAllConnections(), config.server.shutdownGraceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      access.keys?.close();
      metrics?.close();
      // Galleries close last: every acknowledged write is on disk already, and closing waits for
      // a checkpoint under way and closes the write-ahead logs.
      await Promise.all([pool.release(), decoders.close(), galleries?.close()]);
    })());

  return { server, url, port: address.port, pool, galleries, access, metrics, ready, close };
}

/**
 * Tracks the answers not yet sent; the returned drain() makes each of them, and every answer to a
 * request that still arrives on an open keep-alive connection, close its connection, so that
 * server.close() finishes once the requests in flight are answered.
 */
function drainer(server: Server): () => void {
  const pending = new Set<ServerResponse>();
  let draining = false;
  server.on('request', (_req, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    pending.add(res);
    res.once('close', () => pending.delete(res));
  });
  return () => {
    draining = true;
    for (const res of pending) if (!res.headersSent) res.setHeader('Connection', 'close');
  };
}
