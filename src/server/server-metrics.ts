// Prometheus metrics of one server (prom-client, in a registry of its own): requests by route
// and status with their latency, every batch a model runs (size, queue wait, inference time per
// model and execution provider), and, read at each scrape, queue depths, model states and
// gallery sizes. GET /metrics answers them in the Prometheus text format (routes/metrics.ts).
import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { Galleries } from '../gallery/gallery-registry.js';
import type { BatchRecord } from '../infer/batch-scheduler.js';
import type { DecodePool } from '../infer/decode-pool.js';
import type { ScheduledModel } from '../infer/scheduled-model.js';
import type { ModelPool } from './model-pool.js';
import { routeLabel } from './request-log.js';

/** What the gauges read at each scrape. */
export interface MetricSources {
  pool: ModelPool;
  galleries?: Galleries;
  decoders?: DecodePool;
}

const PREFIX = 'protoserve_';
/** Seconds, from 1 ms to 30 s (the default deadline). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const STATES = ['loading', 'ready', 'failed', 'unloading', 'unloaded'] as const;

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route' | 'status'>;
  private readonly errors: Counter<'code'>;
  private readonly batchSize: Histogram<'model'>;
  private readonly queueWait: Histogram<'model'>;
  private readonly inference: Histogram<'model' | 'provider'>;
  private readonly stopObserving: () => void;

  /**
   * `processMetrics` adds prom-client's default process and Node.js metrics (CPU, memory, event
   * loop lag, GC; unprefixed, as every Node.js exporter names them): one server per process.
   */
  constructor(sources: MetricSources, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({ name: `${PREFIX}http_requests_total`, help: 'HTTP requests answered, by method, route pattern and status (499: the client went away first)', labelNames: ['method', 'route', 'status'], registers });
    this.latency = new Histogram({ name: `${PREFIX}http_request_duration_seconds`, help: 'Time from the request arriving to its answer being sent, by method, route pattern and status', labelNames: ['method', 'route', 'status'], buckets: LATENCY_BUCKETS, registers });
    this.errors = new Counter({ name: `${PREFIX}http_errors_total`, help: 'Error answers by registry code (src/server/error-codes.ts)', labelNames: ['code'], registers });
    this.batchSize = new Histogram({ name: `${PREFIX}batch_size`, help: 'Items (images) per model run', labelNames: ['model'], buckets: BATCH_BUCKETS, registers });
    this.queueWait = new Histogram({ name: `${PREFIX}queue_wait_seconds`, help: "Time each item waited in its model's queue before its batch ran", labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.inference = new Histogram({ name: `${PREFIX}inference_duration_seconds`, help: 'Time of each batch run, by model and the execution provider that ran it', labelNames: ['model', 'provider'], buckets: LATENCY_BUCKETS, registers });

    const { pool, galleries, decoders } = sources;
    const perModel = (name: string, help: string, read: (model: ScheduledModel) => number | undefined) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const { session } of pool.list()) {
            const value = read(session);
            if (value !== undefined) this.set({ model: session.name }, value);
          }
        },
      });
    perModel('queue_depth', 'Items waiting for inference, per model', (m) => m.stats()?.queued);
    perModel('batches_running', 'Batches running now, per model', (m) => m.stats()?.running);
    new Gauge({
      name: `${PREFIX}model_state`,
      help: 'Each model state, 1 for the state the model is in (loading, ready, failed, unloading, unloaded)',
      labelNames: ['model', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { session } of pool.list()) for (const state of STATES) this.set({ model: session.name, state }, session.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}model_info`,
      help: 'Served models, 1 each, with their version, task, device and execution provider',
      labelNames: ['model', 'version', 'task', 'device', 'provider'],
      registers,
      collect() {
        this.reset();
        for (const { session } of pool.list()) {
          this.set({ model: session.name, version: session.manifest.version, task: session.manifest.task, device: session.device ?? 'none', provider: session.provider ?? 'none' }, 1);
        }
      },
    });
    if (decoders) {
      new Gauge({
        name: `${PREFIX}decode_queue_depth`,
        help: 'Images waiting for a decode worker',
        registers,
        collect() {
          this.set(decoders.stats().queued);
        },
      });
    }
    if (galleries) {
      const perGallery = (name: string, help: string, read: (g: ReturnType<Galleries['list']>[number]) => number) =>
        new Gauge({
          name: `${PREFIX}${name}`,
          help,
          labelNames: ['gallery'],
          registers,
          collect() {
            this.reset();
            for (const g of galleries.list()) this.set({ gallery: g.name }, read(g));
          },
        });
      perGallery('gallery_identities', 'Identities per gallery', (g) => g.identityCount);
      perGallery('gallery_faces', 'Enrolled faces per gallery', (g) => g.faceCount);
    }
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.stopObserving = pool.onBatch((model, batch) => this.observeBatch(model, batch));
  }

  /** Middleware counting and timing every request when its answer is sent (or the client left). */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const stop = this.latency.startTimer();
      let done = false;
      const observe = () => {
        if (done) return;
        done = true;
        const labels = { method: req.method, route: routeLabel(req), status: String(res.writableFinished ? res.statusCode : 499) };
        this.requests.inc(labels);
        stop(labels);
        const code = res.locals.errorCode as string | undefined;
        if (code) this.errors.inc({ code });
      };
      res.on('finish', observe);
      res.on('close', observe);
      next();
    };
  }

  /** A request the HTTP layer refused before any route saw it (src/server/client-errors.ts). */
  countRefused(code: string): void {
    this.errors.inc({ code });
  }

  observeBatch(model: ScheduledModel, batch: BatchRecord): void {
    this.batchSize.observe({ model: model.name }, batch.size);
    this.inference.observe({ model: model.name, provider: model.provider ?? 'none' }, batch.inferenceMs / 1000);
    for (const ms of batch.queueMs) this.queueWait.observe({ model: model.name }, ms / 1000);
  }

  /** Stops listening to the pool's batches. */
  close(): void {
    this.stopObserving();
  }
}
