// What turns images into the similarities a threshold is compared with: image pairs or IJB
// templates (flip-summed, media-pooled), the flip test on or off, and the model's preprocessing.
// An operating point records the pipeline its impostor scores came from (manifest.ts), and a
// false accept rate holds only for similarities computed the same way: the server decides with
// the points of the pipeline it serves, never with another's.
import { createHash } from 'node:crypto';

import type { Manifest, ScorePipeline } from '../artifact/manifest.js';

/**
 * A hash of what turns pixels into the cached feature besides the weights: every field of the
 * manifest's input spec (size, colour, scale, mean, std, resize, ...), in key order, and the
 * output tensor's name.
 */
export function preprocessingKey(manifest: Pick<Manifest, 'input' | 'output'>): string {
  const input = manifest.input as unknown as Record<string, unknown>;
  const spec = [Object.keys(input).sort().map((k) => [k, input[k]]), manifest.output.tensor];
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

/**
 * The pipeline of the server's /verify, /identify and identity verification: one image per side,
 * no flip test, the manifest's preprocessing (aligned crops, or photos aligned from landmarks).
 */
export function servedPipeline(manifest: Pick<Manifest, 'input' | 'output'>): ScorePipeline {
  return { pairs: 'image', flip: false, preprocessing: preprocessingKey(manifest) };
}

export function samePipeline(a: ScorePipeline | undefined, b: ScorePipeline): boolean {
  return a !== undefined && a.pairs === b.pairs && a.flip === b.flip && a.preprocessing === b.preprocessing;
}

/** "image pairs, no flip test" and the like, for messages. */
export function describePipeline(p: ScorePipeline): string {
  return `${p.pairs === 'image' ? 'image pairs' : 'IJB templates'}, ${p.flip ? 'flip test' : 'no flip test'}, preprocessing ${p.preprocessing.slice(0, 12)}`;
}
