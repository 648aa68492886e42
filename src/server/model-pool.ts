// The models a server answers for, by name, each a ScheduledModel with its state. Models load
// from a models folder (ModelPool.open: sessions in worker threads per the scheduler settings)
// or from sessions made by the caller (new ModelPool(sessions): run on the main thread). A
// model can be loaded again (retried after a failure, or picked up after its folder appeared or
// changed) or unloaded while the server runs; /v2/health/ready reports each model's state.
import { basename, dirname, sep } from 'node:path';

import type { LoadedArtifact } from '../artifact/read-artifact.js';
import { listArtifacts, type BrokenArtifact } from '../artifact/registry.js';
import { ArtifactError } from '../artifact/artifact-error.js';
import { defaultConfig, schedulerSettingsFor, type ServerConfig } from '../config/server-config.js';
import { hasCode, InvariantError, messageOf } from '../errors.js';
import { describeProvider } from '../infer/create-session.js';
import type { Device } from '../infer/devices.js';
import type { InferenceExecutor } from '../infer/executor.js';
import { InlineExecutor } from '../infer/inline-executor.js';
import { ModelSession } from '../infer/model-session.js';
import { planSessions } from '../infer/session-plan.js';
import type { BatchRecord } from '../infer/batch-scheduler.js';
import { ScheduledModel, type ModelState } from '../infer/scheduled-model.js';
import { WorkerExecutor } from '../infer/worker-executor.js';

export type { ModelState };

/** Told of every batch any model of the pool runs (metrics). */
export type BatchListener = (model: ScheduledModel, batch: BatchRecord) => void;

/** A served model: `session` is its ScheduledModel (every run goes through its queue). */
export interface ServedModel {
  readonly session: ScheduledModel;
  readonly state: ModelState;
  /** Why it failed. */
  readonly reason?: string;
}

/** An artifact folder that could not be served, as clients see it (folder name, not path). */
export interface UnavailableModel {
  folder: string;
  code: string;
  message: string;
}

export interface ModelReadiness {
  name: string;
  state: ModelState;
  reason?: string;
}

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: string;
  models: ModelReadiness[];
}

export interface OpenPoolOptions {
  modelsDir: string;
  device: Device;
  /** Scheduler defaults and per-model overrides. */
  config?: Pick<ServerConfig, 'scheduler' | 'models'>;
  /** Start-up lines ("model x runs on cpu"). */
  log?: (line: string) => void;
  logError?: (line: string) => void;
}

class Entry implements ServedModel {
  constructor(public session: ScheduledModel) {}
  get state(): ModelState {
    return this.session.state;
  }
  get reason(): string | undefined {
    return this.session.reason;
  }
}

/** Errors that concern the whole server (the device), not one model. */
const SERVER_WIDE = ['DEVICE_UNAVAILABLE', 'UNSUPPORTED_DEVICE'];

export class ModelPool {
  private readonly models = new Map<string, Entry>();
  private readonly broken = new Map<string, BrokenArtifact>();
  /** One load/unload at a time per model name. */
  private readonly busy = new Map<string, Promise<unknown>>();
  private warming?: Promise<void>;
  private readonly batchListeners = new Set<BatchListener>();

  /**
   * A pool over sessions the caller created (run on the main thread, batched per
   * `config.scheduler`). Without a models folder, load() cannot read models again.
   */
  constructor(
    sessions: readonly ModelSession[],
    unavailable: readonly BrokenArtifact[] = [],
    private readonly source: { config: Pick<ServerConfig, 'scheduler' | 'models'>; modelsDir?: string; device?: Device; log?: (line: string) => void } = { config: defaultConfig() },
  ) {
    for (const session of sessions) {
      if (this.models.has(session.name)) throw new InvariantError(`ModelPool: model "${session.name}" given twice`);
      const model = this.observed(new ScheduledModel(session.manifest, schedulerSettingsFor(source.config, session.name)));
      model.attach(new InlineExecutor(session));
      this.models.set(session.name, new Entry(model));
    }
    for (const b of unavailable) this.broken.set(b.dir, b);
  }

  /**
   * Loads every artifact of a models folder, each on an executor per its scheduler settings.
   * Broken artifacts and models that fail to load are listed as unavailable, except a device
   * that cannot load at all: that stops the start (DEVICE_UNAVAILABLE). Warm-up is separate.
   */
  static async open(options: OpenPoolOptions): Promise<ModelPool> {
    const config = options.config ?? defaultConfig();
    const logError = options.logError ?? ((line: string) => console.error(line));
    const listing = await listArtifacts(options.modelsDir);
    const pool = new ModelPool([], listing.broken, { config, modelsDir: listing.modelsDir, device: options.device, log: options.log });
    for (const b of listing.broken) logError(`skipping ${b.dir}: ${b.code}: ${b.message}`);
    const names = new Set(listing.artifacts.map((a) => a.manifest.name));
    for (const name of Object.keys(config.models)) {
      if (!names.has(name)) logError(`warning: the config has scheduler settings for model "${name}", which is not in ${listing.modelsDir}`);
    }
    for (const artifact of listing.artifacts) {
      try {
        await pool.start(artifact);
      } catch (err) {
        if (hasCode(err) && SERVER_WIDE.includes(err.code)) {
          await pool.release();
          throw err;
        }
        logError(`skipping ${artifact.dir}: ${hasCode(err) ? err.code : 'MODEL_LOAD_FAILED'}: ${messageOf(err)}`);
      } finally {
        artifact.bytes = undefined; // the sessions hold the model now
      }
    }
    return pool;
  }

  get(name: string): ServedModel | undefined {
    return this.models.get(name);
  }

  /** Served models (every state), sorted by name. */
  list(): ServedModel[] {
    return [...this.models.values()].sort((a, b) => (a.session.name < b.session.name ? -1 : 1));
  }

  names(): string[] {
    return this.list().map((m) => m.session.name);
  }

  /** Artifact folders that could not be served, as clients see them (no server paths). */
  get unavailable(): UnavailableModel[] {
    return [...this.broken.values()]
      .sort((a, b) => (a.dir < b.dir ? -1 : 1))
      .map((b) => ({ folder: basename(b.dir), code: b.code, message: redactFolder(b.message, dirname(b.dir)) }));
  }

  /** A message with the models folder's path taken out, for clients. */
  redact(message: string): string {
    return this.source.modelsDir ? redactFolder(message, this.source.modelsDir) : message;
  }

  /**
   * Warms up every model still loading (once; later calls return the same promise). Never
   * rejects: a failure marks that model failed, with the reason.
   */
  warmup(onModel?: (model: ServedModel) => void): Promise<void> {
    this.warming ??= (async () => {
      for (const model of this.list()) {
        if (model.state !== 'loading') continue;
        await model.session.warmup();
        onModel?.(model);
      }
    })();
    return this.warming;
  }

  readiness(): Readiness {
    const models = this.list().map((m) => ({ name: m.session.name, state: m.state, ...(m.reason ? { reason: m.reason } : {}) }));
    const serving = models.filter((m) => m.state !== 'unloaded');
    const notReady = serving.filter((m) => m.state !== 'ready');
    if (serving.length === 0) return { ready: false, reason: 'no models are loaded', models };
    if (notReady.length > 0) {
      const why = notReady.map((m) => `${m.name} is ${m.state}${m.reason ? ` (${m.reason})` : ''}`).join(', ');
      return { ready: false, reason: why, models };
    }
    return { ready: true, models };
  }

  /** Whether load() can read models (the pool was opened on a models folder). */
  get canLoad(): boolean {
    return this.source.modelsDir !== undefined;
  }

  /**
   * (Re)loads the model named `name` (manifest name, or folder name) from the models folder:
   * the running one, if any, is unloaded first (its queued requests get MODEL_UNAVAILABLE), the
   * new one starts, warms up and turns ready or failed. Throws when no folder holds it
   * (MODEL_NOT_FOUND), when its artifact is broken, or when its session cannot start.
   */
  load(name: string): Promise<ServedModel> {
    return this.exclusive(name, async () => {
      const dir = this.source.modelsDir;
      if (dir === undefined) throw new ArtifactError('MODEL_UNLOADABLE', 'this server was started on sessions, not a models folder; it cannot load models');
      const listing = await listArtifacts(dir);
      const artifact = listing.artifacts.find((a) => a.manifest.name === name) ?? listing.artifacts.find((a) => basename(a.dir) === name);
      if (!artifact) {
        const broken = listing.broken.find((b) => basename(b.dir) === name);
        if (broken) throw new ArtifactError(broken.code as ArtifactError['code'], broken.message, { dir: broken.dir });
        throw new ModelNotInFolder(name, listing.artifacts.map((a) => a.manifest.name));
      }
      await this.models.get(artifact.manifest.name)?.session.unload();
      try {
        const entry = await this.start(artifact);
        await entry.session.warmup();
        return entry;
      } finally {
        artifact.bytes = undefined;
      }
    });
  }

  /** Unloads a model: queued requests get MODEL_UNAVAILABLE, running batches finish. */
  unload(name: string): Promise<ServedModel | undefined> {
    return this.exclusive(name, async () => {
      const entry = this.models.get(name);
      await entry?.session.unload();
      return entry;
    });
  }

  async release(): Promise<void> {
    await this.warming;
    await Promise.all([...this.busy.values()].map((p) => p.catch(() => undefined)));
    await Promise.all(this.list().map((m) => m.session.unload()));
  }

  /** Creates the model's executor and registers it (state loading until warm-up). */
  private async start(artifact: LoadedArtifact): Promise<Entry> {
    const { manifest } = artifact;
    const settings = schedulerSettingsFor(this.source.config, manifest.name);
    const model = this.observed(new ScheduledModel(manifest, settings));
    const entry = this.models.get(manifest.name) ?? new Entry(model);
    entry.session = model;
    this.models.set(manifest.name, entry);
    let executor: InferenceExecutor;
    try {
      const device = this.source.device ?? 'auto';
      executor =
        settings.executor === 'worker'
          ? await WorkerExecutor.create({ manifest, modelPath: artifact.modelPath, bytes: artifact.bytes, device, workers: settings.workers, intraOpThreads: settings.intraOpThreads, nice: settings.inferenceNice })
          : new InlineExecutor(await ModelSession.create(artifact, { device, sessionOptions: { intraOpNumThreads: planSessions({ workers: 1, intraOpThreads: settings.intraOpThreads }, 'cpu').intraOpThreads } }));
    } catch (err) {
      this.models.delete(manifest.name);
      this.broken.set(artifact.dir, { dir: artifact.dir, code: hasCode(err) ? err.code : 'MODEL_LOAD_FAILED', message: messageOf(err) });
      throw err;
    }
    this.broken.delete(artifact.dir);
    model.attach(executor);
    const where = executor.kind === 'worker' ? `${executor.slots} worker thread${executor.slots === 1 ? '' : 's'}` : 'the main thread';
    this.source.log?.(`model ${manifest.name} ${manifest.version} (${manifest.task}, ${basename(artifact.dir)}/) runs on ${describeProvider(executor)}, ${where}, ${model.maxBatch > 1 ? `batches of up to ${model.maxBatch}` : 'one image per run'}`);
    return entry;
  }

  /** Adds a listener told of every batch run by any model, now or loaded later; returns its removal. */
  onBatch(listener: BatchListener): () => void {
    this.batchListeners.add(listener);
    return () => this.batchListeners.delete(listener);
  }

  private observed(model: ScheduledModel): ScheduledModel {
    model.onBatch = (batch) => {
      for (const listener of this.batchListeners) listener(model, batch);
    };
    return model;
  }

  private exclusive<T>(name: string, job: () => Promise<T>): Promise<T> {
    const previous = this.busy.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(job);
    this.busy.set(name, next);
    void next.catch(() => undefined).then(() => {
      if (this.busy.get(name) === next) this.busy.delete(name);
    });
    return next;
  }
}

function redactFolder(message: string, folder: string): string {
  return message.split(`${folder}${sep}`).join('').split(folder).join('models folder');
}

/** load() of a name that no artifact folder declares. */
export class ModelNotInFolder extends Error {
  readonly code = 'MODEL_NOT_FOUND';
  constructor(
    readonly model: string,
    readonly available: string[],
  ) {
    super(`no artifact in the models folder is named "${model}"`);
  }
}

