// Starts the HTTP server on a models folder: reads every artifact (broken ones are reported and
// skipped), creates one onnxruntime session per model on the device, says which execution
// provider runs each, listens, then warms every model up (readiness turns 200 after that).
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { basename } from 'node:path';

import { listArtifacts, type BrokenArtifact } from '../artifact/registry.js';
import { ProtoserveError, hasCode, messageOf } from '../errors.js';
import { Galleries } from '../gallery/gallery-registry.js';
import { describeProvider } from '../infer/create-session.js';
import { parseDevice, type Device } from '../infer/devices.js';
import { ModelSession } from '../infer/model-session.js';
import { createApp } from './app.js';
import { ModelPool } from './model-pool.js';

export interface StartServerOptions {
  /** Folder holding <model>/manifest.json + model.onnx (default ./models). */
  modelsDir?: string;
  /** Folder of the galleries (created if missing); none: gallery routes answer GALLERY_UNAVAILABLE. */
  galleriesDir?: string;
  /** Gallery log size that starts a snapshot (default 64 MiB). */
  checkpointBytes?: number;
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
  const device = parseDevice(options.device ?? 'auto');
  const listing = await listArtifacts(options.modelsDir ?? 'models');
  const broken: BrokenArtifact[] = [...listing.broken];
  for (const b of listing.broken) logError(`skipping ${b.dir}: ${b.code}: ${b.message}`);

  const sessions: ModelSession[] = [];
  for (const artifact of listing.artifacts) {
    try {
      const session = await ModelSession.create(artifact, { device });
      sessions.push(session);
      const { manifest } = session;
      log(`model ${manifest.name} ${manifest.version} (${manifest.task}, ${basename(artifact.dir)}/) runs on ${describeProvider(session)}`);
    } catch (err) {
      if (hasCode(err) && (err.code === 'DEVICE_UNAVAILABLE' || err.code === 'UNSUPPORTED_DEVICE')) {
        // An explicit device that cannot load is an error for the whole server, not one model.
        await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
        throw err;
      }
      const code = hasCode(err) ? err.code : 'MODEL_LOAD_FAILED';
      broken.push({ dir: artifact.dir, code, message: messageOf(err) });
      logError(`skipping ${artifact.dir}: ${code}: ${messageOf(err)}`);
    } finally {
      artifact.bytes = undefined; // the session holds the model now
    }
  }
  if (sessions.length === 0) logError(`no servable models in ${listing.modelsDir}: /v2/health/ready will answer 503`);

  const pool = new ModelPool(sessions, broken);
  let galleries: Galleries | undefined;
  if (options.galleriesDir !== undefined) {
    try {
      galleries = await Galleries.open(options.galleriesDir, { checkpointBytes: options.checkpointBytes, warn: logError });
    } catch (err) {
      await pool.release();
      throw err;
    }
    for (const g of galleries.unavailable()) logError(`gallery ${g.name} unavailable: ${g.code}: ${g.message}`);
    const open = galleries.list();
    log(`galleries in ${galleries.dir}: ${open.length ? open.map((g) => `${g.name} (${g.identityCount} identities, model ${g.meta.model.name})`).join(', ') : 'none yet'}`);
  }
  const app = createApp({
    models: pool,
    galleries,
    maxBodyBytes: options.maxBodyBytes,
    maxPixels: options.maxPixels,
    quiet: options.quiet,
    log,
    logError,
  });

  const port = options.port ?? 8080;
  const server = options.host ? app.listen(port, options.host) : app.listen(port);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    await pool.release();
    await galleries?.close();
    const where = `${options.host || '*'}:${port}`;
    const hint = hasCode(err) && err.code === 'EADDRINUSE' ? ' (port in use: pass --port or set PORT)' : '';
    throw new ProtoserveError('LISTEN_FAILED', `Cannot listen on ${where}: ${messageOf(err)}${hint}`, { cause: err });
  }
  // Keep-alive connections must not outlive a request's body limits or hold shutdown forever.
  server.requestTimeout = 60_000;
  const address = server.address() as AddressInfo;
  const shownHost = !options.host || options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`;
  const scope = shownHost === options.host ? '' : 'all interfaces, ';
  log(`listening on ${scope}${url} (${sessions.length} model${sessions.length === 1 ? '' : 's'}, device ${device})`);

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
      await galleries?.close();
      await pool.release();
    })());

  return { server, url, port: address.port, pool, galleries, ready, close };
}
