// `protoserve export --gallery-seed`: a run's identity prototypes as a gallery seed
// (./gallery-seed.ts) for the artifact just written.
import type { Manifest } from '../artifact/manifest.js';
import type { EpochRecord } from '../train/loop.js';
import type { IdentityPrototypes } from '../train/objectives/objective.js';
import type { RunIdentities } from '../train/train-embedder.js';
import { GallerySeedError, GALLERY_SEED_VERSION, writeGallerySeed } from './gallery-seed.js';

export interface GallerySeedInput {
  prototypes: IdentityPrototypes;
  /** The run's identities.json; without it, identities are named by label. */
  identities?: RunIdentities;
  history: readonly EpochRecord[];
  run: string;
  model: Pick<Manifest, 'name' | 'sha256'>;
}

export async function exportGallerySeed(path: string, o: GallerySeedInput): Promise<{ identities: number; skipped: number; kind: string }> {
  const { prototypes: p } = o;
  // Every image is seen once per epoch, so after a whole epoch every identity's empirical prototype
  // has been written from its images; before, some rows are still the random initialization.
  if (p.kind === 'empirical' && o.history.length === 0) {
    throw new GallerySeedError(`--gallery-seed: ${o.run} has not finished an epoch, so some empirical prototypes are still their random initialization`);
  }
  const names = o.identities?.names ?? Array.from({ length: p.classes }, (_, i) => String(i));
  const counts = o.identities?.counts ?? new Array<number>(p.classes).fill(1);
  if (names.length !== p.classes) throw new GallerySeedError(`--gallery-seed: ${names.length} identity names for ${p.classes} prototypes`);
  // An identity without training images has no prototype worth enrolling.
  const kept = names.map((_, i) => i).filter((i) => counts[i] > 0);
  const rows = new Float32Array(kept.length * p.dimension);
  kept.forEach((c, r) => rows.set(p.values.subarray(c * p.dimension, (c + 1) * p.dimension), r * p.dimension));
  await writeGallerySeed(
    path,
    {
      format: 'protoserve-gallery-seed',
      version: GALLERY_SEED_VERSION,
      model: { name: o.model.name, sha256: o.model.sha256 },
      dimension: p.dimension,
      identities: kept.map((i) => names[i]),
      kind: p.kind,
      images: kept.map((i) => counts[i]),
      run: o.run,
    },
    rows,
  );
  return { identities: kept.length, skipped: p.classes - kept.length, kind: p.kind };
}
