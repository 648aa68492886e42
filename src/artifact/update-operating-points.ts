// Calibration writes an embedder's operating points (cosine threshold per FAR) into its manifest.
// The manifest is re-validated and rewritten atomically; the model file is not touched. A caller
// that measured a particular model passes its sha256, so thresholds never land on another model
// that was put in the folder since.
import { join, resolve } from 'node:path';

import { atomicWriteFile } from './atomic-write.js';
import { ArtifactError, ManifestError } from './artifact-error.js';
import { MANIFEST_FILE, type Manifest, type OperatingPoint } from './manifest.js';
import { readManifest } from './read-artifact.js';
import { validateManifest } from './validate-manifest.js';
import { serializeManifest } from './write-artifact.js';

export interface UpdateOperatingPointsOptions {
  /**
   * manifest.sha256 of the model the points were measured on; when the folder's manifest names
   * another sha256, nothing is written (ArtifactError MODEL_MANIFEST_MISMATCH).
   */
  expectedSha256?: string;
}

/**
 * Writes `points` as the operating points of the embedder in `dir`, sorted by FAR. Points that
 * name their pipeline replace those of the same pipeline and any without one, and points
 * measured on other pipelines stay; points without a pipeline replace them all.
 * Throws ManifestError (MANIFEST_INVALID) for a classifier, duplicate FARs or out-of-range values,
 * and ArtifactError (MODEL_MANIFEST_MISMATCH) when `expectedSha256` is not the manifest's sha256.
 */
export async function updateOperatingPoints(dir: string, points: readonly OperatingPoint[], options: UpdateOperatingPointsOptions = {}): Promise<Manifest> {
  const abs = resolve(dir);
  const current = await readManifest(abs);
  const expected = options.expectedSha256;
  if (expected !== undefined && current.sha256.toLowerCase() !== expected.toLowerCase()) {
    throw new ArtifactError(
      'MODEL_MANIFEST_MISMATCH',
      `Operating points not written: ${join(abs, MANIFEST_FILE)} now describes model sha256 ${current.sha256}, ` +
        `not ${expected}, the model they were measured on (was the artifact replaced during the run?)`,
      { dir: abs, details: { manifestSha256: current.sha256, expectedSha256: expected } },
    );
  }
  if (current.task !== 'embedder') {
    throw new ManifestError(
      [{ field: 'manifest.operatingPoints', message: `manifest.operatingPoints: only embedders have operating points; ${current.name} is a ${current.task}` }],
      { dir: abs },
    );
  }
  const key = (p: OperatingPoint) => (p.pipeline ? JSON.stringify([p.pipeline.pairs, p.pipeline.flip, p.pipeline.preprocessing]) : '');
  const replaced = new Set(points.map(key));
  const keepOthers = points.every((p) => p.pipeline !== undefined);
  const kept = keepOthers ? (current.operatingPoints ?? []).filter((p) => p.pipeline !== undefined && !replaced.has(key(p))) : [];
  const sorted = [...kept, ...points].map((p) => ({ ...p })).sort((a, b) => a.far - b.far);
  const next = validateManifest({ ...current, operatingPoints: sorted }, { dir: abs });
  await atomicWriteFile(join(abs, MANIFEST_FILE), serializeManifest(next));
  return next;
}
