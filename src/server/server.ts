// Starts the HTTP server on a models folder: reads every artifact (broken ones are reported and
// skipped), starts each model's sessions on the device per its scheduler settings and says
// which execution provider runs each, listens, then warms every model up (readiness turns 200
// after that).
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

import { defaultConfig, type ServerConfig } from '../config/server-config.js';
import { ProtoserveError, hasCode, messageOf } from '../errors.js';
import { Galleries } from '../gallery/gallery-registry.js';
import { DecodePool } from '../infer/decode-pool.js';
import { parseDevice, type Device } from '../infer/devices.js';
import { createApp } from './app.js';
import { ModelPool } from './model-pool.js';

export interface StartServerOptions {
  /** Every setting (default: each at its default); the options below override it. */
  config?: ServerConfig;
  /** Folder holding <model>/manifest.json + model.onnx (default ./models). */
  modelsDir?: string;
  /** The galleries folder (created if missing); default config.server.galleries, none if unset. */
  galleriesDir?: string;
  /** 0 picks a free port (default 8080). */
  port?: number;
  /** Interface to listen on (default: all interfaces). */
  host?: string;
  /** auto | cpu | cuda | webgpu (default auto). */
  device?: Device | string;
  /** Largest request body / image, in bytes (default 10 MiB). */
  maxBodyBytes?: number;
  maxPixels?: number;
  /** No per-request log lines (start-up lines are still written). */
  quiet?: boolean;
  /** Where start-up and request lines go (default console.log). */
  log?: (line: string) => void;
  /** Where warnings and 5xx details go (default console.error). */
  logError?: (line: string) => void;
}

export interface RunningServer {
  server: Server;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  pool: ModelPool;
  galleries?: Galleries;
  /** Resolves when every model finished its warm-up (never rejects; see pool.readiness()). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => console.log(line));
  const logError = options.logError ?? ((line: string) => console.error(line));
  const base = options.config ?? defaultConfig();
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
  const app = createApp({ models: pool, config, decoders, galleries, quiet: config.server.quiet, log, logError });

  const { port, host } = config.server;
  const server = host ? app.listen(port, host) : app.listen(port);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    await Promise.all([pool.release(), decoders.close(), galleries?.close()]);
    const where = `${host || '*'}:${port}`;
    const hint = hasCode(err) && err.code === 'EADDRINUSE' ? ' (port in use: pass --port or set PORT)' : '';
    throw new ProtoserveError('LISTEN_FAILED', `Cannot listen on ${where}: ${messageOf(err)}${hint}`, { cause: err });
  }
  // Keep-alive connections must not outlive a request's body limits or hold shutdown forever.
  server.requestTimeout = 60_000;
  const address = server.address() as AddressInfo;
  const shownHost = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`;
  const scope = shownHost === host ? '' : 'all interfaces, ';
  const served = pool.list().length;
  log(`listening on ${scope}${url} (${served} model${served === 1 ? '' : 's'}, device ${device})`);

  const ready = pool.warmup((m) => {
    if (m.state === 'failed') logError(`warm-up of ${m.session.name} failed: ${m.reason}`);
  }).then(() => {
    const r = pool.readiness();
    if (r.ready) log(`ready: ${pool.names().join(', ')}`);
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => {
        // In-flight requests get a few seconds to finish; idle keep-alive sockets go at once.
        const force = setTimeout(() => server.closeAllConnections(), 5_000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      await Promise.all([pool.release(), decoders.close(), galleries?.close()]);
    })());

  return { server, url, port: address.port, pool, galleries, ready, close };
}
