// Writes an artifact folder: model.onnx, then manifest.json (with the model's sha256), each
// atomically. The manifest goes last: a folder with a manifest is a complete artifact.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { atomicWriteFile } from './atomic-write.js';
import { sha256Hex } from './hash.js';
import { MANIFEST_FILE, MODEL_FILE, type Manifest, type ManifestDraft } from './manifest.js';
import { validateManifest } from './validate-manifest.js';

export interface WriteArtifactInput {
  /** Everything but `file` and `sha256`, which are filled here. */
  manifest: ManifestDraft;
  onnxBytes: Uint8Array;
}

export interface WrittenArtifact {
  dir: string;
  manifest: Manifest;
  modelPath: string;
  manifestPath: string;
}

/**
 * Validates the complete manifest before touching the disk, so an invalid manifest never
 * replaces a good artifact. Creates `dir` when needed; replaces an existing artifact there.
 */
export async function writeArtifact(dir: string, input: WriteArtifactInput): Promise<WrittenArtifact> {
  const abs = resolve(dir);
  const draft = { ...input.manifest } as ManifestDraft & Partial<Pick<Manifest, 'file' | 'sha256'>>;
  delete draft.file;
  delete draft.sha256;
  const manifest = validateManifest({ ...draft, file: MODEL_FILE, sha256: sha256Hex(input.onnxBytes) }, { dir: abs });
  await mkdir(abs, { recursive: true });
  const modelPath = join(abs, MODEL_FILE);
  const manifestPath = join(abs, MANIFEST_FILE);
  await atomicWriteFile(modelPath, input.onnxBytes);
  await atomicWriteFile(manifestPath, serializeManifest(manifest));
  return { dir: abs, manifest, modelPath, manifestPath };
}

/** Stable, readable JSON (two-space indent, trailing newline) with the contract's key order. */
export function serializeManifest(manifest: Manifest): string {
  const ordered: Record<string, unknown> = {
    schema: manifest.schema,
    name: manifest.name,
    version: manifest.version,
    task: manifest.task,
    file: manifest.file,
    sha256: manifest.sha256,
    input: manifest.input,
    output: manifest.output,
  };
  if (manifest.labels !== undefined) ordered.labels = manifest.labels;
  if (manifest.operatingPoints !== undefined) ordered.operatingPoints = manifest.operatingPoints;
  if (manifest.detector !== undefined) ordered.detector = manifest.detector;
  if (manifest.face !== undefined) ordered.face = manifest.face;
  ordered.provenance = manifest.provenance;
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
