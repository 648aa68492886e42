// The models a server answers for, by name, and whether each has proven it can run:
// /v2/health/ready is 200 only once every model finished one real inference (warm-up).
import { basename, dirname, sep } from 'node:path';

import type { BrokenArtifact } from '../artifact/registry.js';
import { messageOf } from '../errors.js';
import type { ModelSession } from '../infer/model-session.js';

export type ModelState = 'loading' | 'ready' | 'failed';

export interface ServedModel {
  session: ModelSession;
  state: ModelState;
  /** Why warm-up failed. */
  reason?: string;
}

/** An artifact folder that could not be served, as clients see it (folder name, not path). */
export interface UnavailableModel {
  folder: string;
  code: string;
  message: string;
}

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: string;
}

export class ModelPool {
  private readonly models = new Map<string, ServedModel>();
  readonly unavailable: UnavailableModel[];
  private warming?: Promise<void>;

  constructor(sessions: readonly ModelSession[], unavailable: readonly BrokenArtifact[] = []) {
    for (const session of sessions) {
      if (this.models.has(session.name)) throw new Error(`ModelPool: model "${session.name}" given twice`);
      this.models.set(session.name, { session, state: 'loading' });
    }
    // Clients see folder names relative to the models folder, never the server's paths.
    this.unavailable = unavailable.map((b) => ({
      folder: basename(b.dir),
      code: b.code,
      message: b.message.split(`${dirname(b.dir)}${sep}`).join('').split(dirname(b.dir)).join('models folder'),
    }));
  }

  get(name: string): ServedModel | undefined {
    return this.models.get(name);
  }

  /** Served models, sorted by name. */
  list(): ServedModel[] {
    return [...this.models.values()].sort((a, b) => (a.session.name < b.session.name ? -1 : 1));
  }

  names(): string[] {
    return this.list().map((m) => m.session.name);
  }

  /**
   * Runs one inference per model (once; later calls return the same promise). Never rejects:
   * a failure marks that model 'failed' with the reason, and readiness stays 503.
   */
  warmup(onModel?: (model: ServedModel) => void): Promise<void> {
    this.warming ??= (async () => {
      for (const model of this.list()) {
        try {
          await model.session.warmup();
          model.state = 'ready';
        } catch (err) {
          model.state = 'failed';
          model.reason = messageOf(err);
        }
        onModel?.(model);
      }
    })();
    return this.warming;
  }

  readiness(): Readiness {
    const models = this.list();
    if (models.length === 0) return { ready: false, reason: 'no models are loaded' };
    const failed = models.filter((m) => m.state === 'failed');
    if (failed.length > 0) return { ready: false, reason: `warm-up failed for ${failed.map((m) => `${m.session.name} (${m.reason})`).join(', ')}` };
    const loading = models.filter((m) => m.state === 'loading');
    if (loading.length > 0) return { ready: false, reason: `warming up ${loading.map((m) => m.session.name).join(', ')}` };
    return { ready: true };
  }

  async release(): Promise<void> {
    await this.warming;
    await Promise.all(this.list().map((m) => m.session.release().catch(() => undefined)));
  }
}
