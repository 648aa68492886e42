// Reads one artifact folder: manifest.json (validated field by field) and the model file it
// names, whose sha256 must match the manifest so a server never serves a model other than the
// one the manifest (labels, normalization, operating points) was written for.
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { hasCode, messageOf } from '../errors.js';
import { ArtifactError } from './artifact-error.js';
import { sha256Hex } from './hash.js';
import { MANIFEST_FILE, type Manifest } from './manifest.js';
import { validateManifest } from './validate-manifest.js';

export interface LoadedArtifact {
  /** The artifact folder, absolute. */
  dir: string;
  manifest: Manifest;
  /** Absolute path of the model file. */
  modelPath: string;
  /** The model file's bytes, present when they were read to check the hash (the default). */
  bytes?: Uint8Array;
}

export interface ReadArtifactOptions {
  /** Check the model file's sha256 against the manifest (default true). */
  verifyHash?: boolean;
}

/** Reads and validates manifest.json alone (no model file access). */
export async function readManifest(dir: string): Promise<Manifest> {
  const abs = resolve(dir);
  const path = join(abs, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (hasCode(err) && err.code === 'ENOENT') {
      throw new ArtifactError('MANIFEST_NOT_FOUND', `No ${MANIFEST_FILE} in ${abs}: an artifact folder holds model.onnx and ${MANIFEST_FILE}`, { dir: abs, cause: err });
    }
    throw new ArtifactError('MANIFEST_UNREADABLE', `Cannot read ${path}: ${messageOf(err)}`, { dir: abs, cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ArtifactError('MANIFEST_UNREADABLE', `${path} is not valid JSON: ${messageOf(err)}`, { dir: abs, cause: err, details: { problem: 'not JSON' } });
  }
  return validateManifest(parsed, { dir: abs });
}

export async function readArtifact(dir: string, options: ReadArtifactOptions = {}): Promise<LoadedArtifact> {
  const abs = resolve(dir);
  const manifest = await readManifest(abs);
  const modelPath = join(abs, manifest.file);
  if (options.verifyHash === false) {
    const isFile = await stat(modelPath).then(
      (st) => st.isFile(),
      (err: unknown) => {
        throw missingModel(abs, modelPath, err);
      },
    );
    if (!isFile) throw new ArtifactError('MODEL_FILE_MISSING', `${modelPath} is not a file (named by manifest.file in ${abs})`, { dir: abs });
    return { dir: abs, manifest, modelPath };
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (err) {
    throw missingModel(abs, modelPath, err);
  }
  const actual = sha256Hex(bytes);
  if (actual !== manifest.sha256) {
    throw new ArtifactError(
      'MODEL_HASH_MISMATCH',
      `${modelPath}: sha256 mismatch, expected ${manifest.sha256} (manifest.sha256), actual ${actual}. ` +
        'The model file was changed or replaced after the manifest was written; re-export it, or re-create the manifest for this file.',
      { dir: abs, details: { expected: manifest.sha256, actual } },
    );
  }
  return { dir: abs, manifest, modelPath, bytes };
}

function missingModel(dir: string, modelPath: string, err: unknown): ArtifactError {
  if (hasCode(err) && err.code === 'ENOENT') {
    return new ArtifactError('MODEL_FILE_MISSING', `${modelPath} not found (named by manifest.file in ${dir})`, { dir, cause: err });
  }
  return new ArtifactError('MODEL_FILE_MISSING', `Cannot read ${modelPath}: ${messageOf(err)}`, { dir, cause: err });
}
