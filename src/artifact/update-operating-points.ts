// Calibration writes an embedder's operating points (cosine threshold per FAR) into its manifest.
// The manifest is re-validated and rewritten atomically; the model file is not touched.
import { join, resolve } from 'node:path';

import { atomicWriteFile } from './atomic-write.js';
import { ManifestError } from './artifact-error.js';
import { MANIFEST_FILE, type Manifest, type OperatingPoint } from './manifest.js';
import { readManifest } from './read-artifact.js';
import { validateManifest } from './validate-manifest.js';
import { serializeManifest } from './write-artifact.js';

/**
 * Replaces the operating points of the embedder in `dir` with `points`, sorted by FAR.
 * Throws ManifestError (MANIFEST_INVALID) for a classifier, duplicate FARs or out-of-range values.
 */
export async function updateOperatingPoints(dir: string, points: readonly OperatingPoint[]): Promise<Manifest> {
  const abs = resolve(dir);
  const current = await readManifest(abs);
  if (current.task !== 'embedder') {
    throw new ManifestError(
      [{ field: 'manifest.operatingPoints', message: `manifest.operatingPoints: only embedders have operating points; ${current.name} is a ${current.task}` }],
      { dir: abs },
    );
  }
  const sorted = [...points].map((p) => ({ ...p })).sort((a, b) => a.far - b.far);
  const next = validateManifest({ ...current, operatingPoints: sorted }, { dir: abs });
  await atomicWriteFile(join(abs, MANIFEST_FILE), serializeManifest(next));
  return next;
}
