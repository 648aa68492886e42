// The registry of a models folder: every models/<folder>/manifest.json, read and checked.
// A broken artifact is reported next to the good ones, never thrown: one bad folder must not
// keep the server from serving the others.
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { hasCode, messageOf } from '../errors.js';
import { ArtifactError } from './artifact-error.js';
import { readArtifact, type LoadedArtifact, type ReadArtifactOptions } from './read-artifact.js';

export interface BrokenArtifact {
  /** The artifact folder, absolute. */
  dir: string;
  /** Error code, e.g. MANIFEST_INVALID, MODEL_HASH_MISMATCH. */
  code: string;
  message: string;
}

export interface ArtifactListing {
  modelsDir: string;
  /** Valid artifacts, sorted by manifest name. */
  artifacts: LoadedArtifact[];
  /** Folders that look like artifacts but cannot be used, with why. */
  broken: BrokenArtifact[];
}

/**
 * Scans modelsDir/* (folders, skipping hidden ones). Throws only when modelsDir itself is
 * missing (MODELS_DIR_NOT_FOUND). Two folders with the same manifest.name are both reported
 * broken (DUPLICATE_MODEL_NAME): which one a client would get must not depend on folder order.
 */
export async function listArtifacts(modelsDir: string, options: ReadArtifactOptions = {}): Promise<ArtifactListing> {
  const abs = resolve(modelsDir);
  let entries;
  try {
    entries = await readdir(abs, { withFileTypes: true });
  } catch (err) {
    if (hasCode(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) {
      throw new ArtifactError('MODELS_DIR_NOT_FOUND', `Models folder ${abs} does not exist (expected ${abs}/<model>/manifest.json)`, { dir: abs, cause: err });
    }
    throw err;
  }
  const folders = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();

  const found: LoadedArtifact[] = [];
  const broken: BrokenArtifact[] = [];
  for (const folder of folders) {
    const dir = join(abs, folder);
    try {
      found.push(await readArtifact(dir, options));
    } catch (err) {
      broken.push({ dir, code: hasCode(err) ? err.code : 'ARTIFACT_UNREADABLE', message: messageOf(err) });
    }
  }

  const byName = new Map<string, LoadedArtifact[]>();
  for (const a of found) byName.set(a.manifest.name, [...(byName.get(a.manifest.name) ?? []), a]);
  const artifacts: LoadedArtifact[] = [];
  for (const [name, group] of byName) {
    if (group.length === 1) artifacts.push(group[0]);
    else {
      for (const a of group) {
        broken.push({
          dir: a.dir,
          code: 'DUPLICATE_MODEL_NAME',
          message: `Model name "${name}" is declared by ${group.length} folders (${group.map((g) => g.dir).join(', ')}); rename one (manifest.name)`,
        });
      }
    }
  }
  artifacts.sort((a, b) => (a.manifest.name < b.manifest.name ? -1 : a.manifest.name > b.manifest.name ? 1 : 0));
  broken.sort((a, b) => (a.dir < b.dir ? -1 : 1));
  return { modelsDir: abs, artifacts, broken };
}
