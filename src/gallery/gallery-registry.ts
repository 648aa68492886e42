// The galleries folder: one sub-folder per gallery (gallery.ts), opened together, created and
// deleted atomically (a temporary name, then a rename), and held by one process at a time
// through a lock file, since two writers would interleave their logs.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { fsyncDir } from '../artifact/atomic-write.js';
import { hasCode, messageOf } from '../errors.js';
import { Gallery, checkGalleryName, type GalleryMeta, type GalleryOptions } from './gallery.js';
import { GalleryError } from './gallery-error.js';
import type { GalleryState } from './gallery-state.js';

export const LOCK_FILE = '.lock';

export interface UnavailableGallery {
  name: string;
  code: string;
  message: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return hasCode(err) && err.code === 'EPERM';
  }
}

/** Folders this process holds. */
const held = new Set<string>();

/** Takes the folder's lock file, or says which live process holds it. */
async function lock(dir: string): Promise<string> {
  const path = join(dir, LOCK_FILE);
  if (held.has(path)) throw new GalleryError('GALLERIES_LOCKED', `${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      held.add(path);
      return path;
    } catch (err) {
      if (!hasCode(err) || err.code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      // A lock of a process that is gone (killed) is stale; so is one with our own pid (a
      // container restarted under the same pid).
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new GalleryError('GALLERIES_LOCKED', `${dir} is in use by process ${pid} (a running server or CLI); stop it, or use its HTTP API`);
      }
      await rm(path, { force: true });
    }
  }
  throw new GalleryError('GALLERIES_LOCKED', `cannot take the lock ${path}`);
}

export class Galleries {
  private readonly galleries = new Map<string, Gallery>();
  private readonly broken = new Map<string, UnavailableGallery>();
  /** Names being created or deleted right now. */
  private readonly busy = new Set<string>();
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly lockPath: string,
    private readonly options: GalleryOptions,
  ) {}

  /** Opens every gallery under `dir` (created if missing); broken ones are listed, not fatal. */
  static async open(dir: string, options: GalleryOptions = {}): Promise<Galleries> {
    const abs = resolve(dir);
    await mkdir(abs, { recursive: true });
    const lockPath = await lock(abs);
    const galleries = new Galleries(abs, lockPath, options);
    try {
      for (const entry of (await readdir(abs)).sort()) {
        if (entry.startsWith('.')) {
          // Leftovers of a create or delete that a crash interrupted.
          if (/\.(creating|deleting)-/.test(entry)) await rm(join(abs, entry), { recursive: true, force: true });
          continue;
        }
        const path = join(abs, entry);
        if (!(await stat(path)).isDirectory()) continue;
        try {
          galleries.galleries.set(entry, await Gallery.open(path, options));
        } catch (err) {
          galleries.broken.set(entry, { name: entry, code: hasCode(err) ? err.code : 'GALLERY_CORRUPT', message: messageOf(err) });
        }
      }
    } catch (err) {
      await galleries.close();
      throw err;
    }
    return galleries;
  }

  /** Open galleries, by name. */
  list(): Gallery[] {
    return [...this.galleries.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  unavailable(): UnavailableGallery[] {
    return [...this.broken.values()];
  }

  get(name: string): Gallery {
    const gallery = this.galleries.get(name);
    if (gallery) return gallery;
    const broken = this.broken.get(name);
    if (broken) throw new GalleryError(broken.code === 'FAISS_UNAVAILABLE' ? 'FAISS_UNAVAILABLE' : 'GALLERY_UNAVAILABLE', `Gallery "${name}" could not be opened: ${broken.message}`);
    const names = this.list().map((g) => g.name);
    throw new GalleryError('GALLERY_NOT_FOUND', `Gallery "${name}" not found; galleries: ${names.length ? names.join(', ') : '(none)'}`);
  }

  /** Creates a gallery (with `initial`'s identities, for imports); GALLERY_EXISTS if the name is taken. */
  async create(meta: GalleryMeta, initial?: GalleryState): Promise<Gallery> {
    const name = checkGalleryName(meta.name);
    if (this.galleries.has(name) || this.broken.has(name) || this.busy.has(name)) throw new GalleryError('GALLERY_EXISTS', `Gallery "${name}" already exists`);
    this.busy.add(name);
    try {
      const gallery = await Gallery.create(join(this.dir, name), meta, this.options, initial);
      this.galleries.set(name, gallery);
      return gallery;
    } finally {
      this.busy.delete(name);
    }
  }

  /** Deletes a gallery and its files (renamed away first, so a crash never leaves half of one). */
  async delete(name: string): Promise<void> {
    const gallery = this.galleries.get(name);
    if (!gallery && !this.broken.has(name)) this.get(name);
    if (this.busy.has(name)) throw new GalleryError('GALLERY_UNAVAILABLE', `Gallery "${name}" is being created or deleted`);
    this.busy.add(name);
    try {
      this.galleries.delete(name);
      this.broken.delete(name);
      await gallery?.close();
      const trash = join(this.dir, `.${name}.deleting-${randomBytes(4).toString('hex')}`);
      await rename(join(this.dir, name), trash);
      await fsyncDir(join(this.dir, name));
      await rm(trash, { recursive: true, force: true });
    } finally {
      this.busy.delete(name);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.list().map((g) => g.close().catch(() => undefined)));
    this.galleries.clear();
    await rm(this.lockPath, { force: true });
    held.delete(this.lockPath);
  }
}

