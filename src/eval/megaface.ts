// MegaFace challenge 1 (identification against distractors), following the devkit's protocol
// (devkit/experiments/run_experiment.py; InsightFace recognition/_evaluation_/megaface):
//   probes: FaceScrub, templatelists/facescrub_features_list.json ({"id": [...], "path": [...]});
//   distractors: templatelists/megaface_features_list.json_<size>_<set>, sizes 10 ... 1,000,000;
//   features: <features>/facescrub/<path><suffix> and <features>/megaface/<path><suffix>.
// Rank-1 (CMC): for each probe identity and each of its images g, g joins the N distractors as
// the gallery and every other image q of the identity is a query; a hit at rank r when fewer
// than r distractors are strictly closer to q than g. Distance: squared L2 on the features as
// given (the devkit's), so unnormalized features from other tools are ranked as the devkit ranks them.
// Verification: genuine = same-identity probe pairs, impostor = probe x distractor pairs; the devkit's
// own ROC binary is closed, so TAR@FAR uses ijb_1n.py's rule: threshold = the ceil(FAR x impostors)-th
// largest impostor similarity (-distance), TAR = share of genuine pairs above it.
// Distractors are streamed in blocks through an exact onnxruntime Gemm (exact-search.ts): a block
// of distractor rows is scored against all probes, and only each probe's nearest maxRank distances
// and the top impostor scores are kept, so 1M distractors never need a 1M-row matrix.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { parseDatasetJson, readDatasetText } from './dataset-file.js';
import { EvalError } from './eval-error.js';
import { BlockScorer, rowNorms2 } from './exact-search.js';
import type { FeatureSource } from './feature-source.js';
import { farRank, normalizeRows } from './numeric.js';
import { TopKLargest } from './top-k.js';

export const MEGAFACE_FAR = 1e-6;

export interface MegafaceLists {
  probePaths: string[];
  probeIds: string[];
  /** Distractor paths per size, smallest size first. */
  distractors: Array<{ size: number; paths: string[] }>;
  set: number;
}

export function megafacePaths(dataDir: string) {
  const lists = join(dataDir, 'templatelists');
  return {
    templatelists: lists,
    probeList: join(lists, 'facescrub_features_list.json'),
    distractorList: (size: number, set: number) => join(lists, `megaface_features_list.json_${size}_${set}`),
    /** Images (when embedding from pixels), relative to the dataset root. */
    probeImageDir: 'facescrub_images',
    distractorImageDir: 'megaface_images',
    /** Feature folders, relative to --features (the devkit's layout). */
    probeFeatureDir: 'facescrub',
    distractorFeatureDir: 'megaface',
    facescrubNoises: join(dataDir, 'facescrub_noises.txt'),
    megafaceNoises: join(dataDir, 'megaface_noises.txt'),
  };
}

async function readJsonList(path: string, what: string): Promise<{ path: string[]; id?: unknown[] }> {
  const parsed = parseDatasetJson(await readDatasetText(path, what), path);
  const obj = parsed as { path?: unknown; id?: unknown };
  if (!obj || !Array.isArray(obj.path) || !obj.path.every((p) => typeof p === 'string')) {
    throw new EvalError('DATASET_FORMAT', `${path}: expected a JSON object with a "path" list of strings`);
  }
  return { path: obj.path as string[], id: Array.isArray(obj.id) ? obj.id : undefined };
}

/** Reads the probe list and every distractor list of `set` found in templatelists/. */
export async function readMegafaceLists(dataDir: string, options: { set?: number; sizes?: readonly number[] } = {}): Promise<MegafaceLists> {
  const set = options.set ?? 1;
  const p = megafacePaths(dataDir);
  const probe = await readJsonList(p.probeList, 'FaceScrub probe list of the MegaFace devkit');
  const probeIds = probe.path.map((path, i) => {
    const id = probe.id?.[i];
    return typeof id === 'string' || typeof id === 'number' ? String(id) : path.split('/')[0];
  });
  let sizes = options.sizes;
  if (!sizes) {
    let names: string[] = [];
    try {
      names = await readdir(p.templatelists);
    } catch {
      names = [];
    }
    const re = new RegExp(`^megaface_features_list\\.json_(\\d+)_${set}$`);
    sizes = names.map((n) => re.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
    if (sizes.length === 0) {
      throw new EvalError('DATASET_FILE_MISSING', `No distractor list megaface_features_list.json_<size>_${set} in ${p.templatelists}`);
    }
  }
  const distractors: MegafaceLists['distractors'] = [];
  for (const size of sizes) {
    const list = await readJsonList(p.distractorList(size, set), `MegaFace distractor list of size ${size}`);
    distractors.push({ size, paths: list.path });
  }
  return { probePaths: probe.path, probeIds, distractors, set };
}

/** Noise lists of InsightFace's remove_noises.py (optional "cleaned" protocol). */
export interface MegafaceNoises {
  /** FaceScrub image file names (last path component) known to be mislabeled. */
  facescrub: Set<string>;
  /** MegaFace distractor paths (last three components, a/b/file) that show a FaceScrub identity. */
  megaface: Set<string>;
}

export async function readMegafaceNoises(facescrubPath: string, megafacePath: string): Promise<MegafaceNoises> {
  const read = async (path: string): Promise<string[]> =>
    (await readDatasetText(path, 'noise list for --clean')).split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const facescrub = new Set((await read(facescrubPath)).map((l) => l.trim()));
  const megaface = new Set(
    (await read(megafacePath)).map((l) => {
      const parts = l.trim().split('\t');
      return parts.length > 1 ? parts[1] : parts[0];
    }),
  );
  return { facescrub, megaface };
}

/** Loads the features of `paths` (relative to the probe or distractor root) as n x dim float32. */
export interface MegafaceFeatureSource {
  /** `missing`: 1 for each path without a feature (its image was skipped). */
  load(kind: 'probe' | 'distractor', paths: readonly string[]): Promise<{ data: Float32Array; dim: number; missing?: Uint8Array }>;
}

export interface MegafaceSizeResult {
  size: number;
  /** CMC in percent, ranks 1..maxRank. */
  cmc: number[];
  rank1: number;
  tarAtFar: number;
  threshold: number;
  impostors: number;
  /** Distractors of this size left out: their image was skipped (--on-bad-image skip). */
  excludedDistractors: number;
}

export interface MegafaceResult {
  probes: number;
  /** Probe images left out: skipped (--on-bad-image skip); their identity has one image less. */
  excludedProbes: number;
  identities: number;
  queries: number;
  genuinePairs: number;
  far: number;
  sizes: MegafaceSizeResult[];
}

export interface MegafaceOptions {
  maxRank?: number;
  far?: number;
  blockSize?: number;
  noises?: MegafaceNoises;
  /** Distractors scored so far, per block; called with 0 when the distractors start. */
  onProgress?: (distractors: number) => void;
  scorer?: BlockScorer;
}

export async function evaluateMegaface(allLists: MegafaceLists, source: MegafaceFeatureSource, options: MegafaceOptions = {}): Promise<MegafaceResult> {
  const maxRank = options.maxRank ?? 10;
  const far = options.far ?? MEGAFACE_FAR;
  const blockSize = options.blockSize ?? 4096;
  const scorer = options.scorer ?? (await BlockScorer.create());
  try {
    // Probes, with noisy ones replaced by their identity's centre (remove_noises.py, without its
    // random +-0.001 jitter so that results are reproducible).
    const loaded = await source.load('probe', allLists.probePaths);
    const { probe, lists, excludedProbes } = withoutMissingProbes(loaded, allLists);
    const dim = probe.dim;
    const P = lists.probePaths.length;
    const missingDistractors = new Set<string>();
    if (options.noises) cleanProbes(probe.data, dim, lists, options.noises.facescrub);
    const qn = rowNorms2(probe.data, P, dim);
    const pp = await scorer.dot(probe.data, P, probe.data, P, dim);

    // Distractors grouped by the set of sizes that contain them, so each is scored once.
    const sizes = lists.distractors;
    const membership = new Map<string, number>();
    sizes.forEach(({ paths }, s) => {
      for (const path of paths) membership.set(path, (membership.get(path) ?? 0) | (1 << s));
    });
    const groups = new Map<number, string[]>();
    for (const [path, mask] of membership) {
      const g = groups.get(mask);
      if (g) g.push(path);
      else groups.set(mask, [path]);
    }
    const kImp = farRank(P * Math.max(...sizes.map((s) => s.paths.length)), far);
    const groupResults: Array<{ mask: number; nearest: Float64Array; impostors: TopKLargest }> = [];
    options.onProgress?.(0); // the distractors start now (a progress clock can start with it)
    for (const [mask, paths] of groups) {
      const nearest = new Float64Array(P * maxRank).fill(Infinity);
      const impostors = new TopKLargest(kImp);
      for (let start = 0; start < paths.length; start += blockSize) {
        const blockPaths = paths.slice(start, start + blockSize);
        const nx = blockPaths.length;
        const block = await source.load('distractor', blockPaths);
        if (block.dim !== dim) {
          throw new EvalError('FEATURE_DIMENSION', `MegaFace: distractor features have ${block.dim} values, probe features ${dim}`);
        }
        const xn = rowNorms2(block.data, nx, dim);
        // A skipped distractor is out of the gallery: never closer than a mate, never an impostor.
        block.missing?.forEach((m, j) => {
          if (m) {
            xn[j] = Infinity;
            missingDistractors.add(blockPaths[j]);
          }
        });
        if (options.noises) {
          blockPaths.forEach((p, j) => {
            if (options.noises?.megaface.has(p.split('/').slice(-3).join('/'))) xn[j] = Infinity;
          });
        }
        const dots = await scorer.dot(probe.data, P, block.data, nx, dim);
        accumulateBlock(dots, qn, xn, P, nx, maxRank, nearest, impostors);
        options.onProgress?.(nx);
      }
      groupResults.push({ mask, nearest, impostors });
    }

    // Identities and genuine pairs.
    const byId = new Map<string, number[]>();
    lists.probeIds.forEach((id, i) => byId.set(id, [...(byId.get(id) ?? []), i]));
    const dist = (q: number, g: number): number => qn[q] + qn[g] - 2 * pp[q * P + g];
    const genuine: number[] = [];
    let queries = 0;
    for (const members of byId.values()) {
      for (let a = 0; a < members.length; a++) for (let b = a + 1; b < members.length; b++) genuine.push(-dist(members[a], members[b]));
      queries += members.length * (members.length - 1);
    }
    if (queries === 0) throw new EvalError('METRIC_UNDEFINED', 'MegaFace: no probe identity has two images, so there is no query');

    const results: MegafaceSizeResult[] = [];
    sizes.forEach(({ size, paths }, s) => {
      const inSize = groupResults.filter((g) => (g.mask & (1 << s)) !== 0);
      // Nearest maxRank distractor distances per probe over the groups in this size.
      const nearest = new Float64Array(P * maxRank).fill(Infinity);
      for (const g of inSize) {
        for (let i = 0; i < P; i++) for (let r = 0; r < maxRank; r++) insertSorted(nearest, i * maxRank, maxRank, g.nearest[i * maxRank + r]);
      }
      const hits = new Float64Array(maxRank);
      for (const members of byId.values()) {
        for (const g of members) {
          for (const q of members) {
            if (q === g) continue;
            const mate = dist(q, g);
            let closer = 0;
            while (closer < maxRank && nearest[q * maxRank + closer] < mate) closer++;
            if (closer < maxRank) hits[closer]++;
          }
        }
      }
      const cmc: number[] = [];
      let cum = 0;
      for (let r = 0; r < maxRank; r++) {
        cum += hits[r];
        cmc.push((cum / queries) * 100);
      }
      const excludedDistractors = missingDistractors.size === 0 ? 0 : paths.filter((p) => missingDistractors.has(p)).length;
      const n = paths.length - excludedDistractors;
      const impostorCount = P * n;
      const merged = new TopKLargest(kImp);
      for (const g of inSize) for (const v of g.impostors.sorted()) merged.push(v);
      const top = merged.sorted();
      const k = farRank(impostorCount, far);
      const threshold = k <= top.length ? top[k - 1] : -Infinity;
      const accepted = genuine.reduce((c, v) => c + (v > threshold ? 1 : 0), 0);
      results.push({
        size,
        cmc,
        rank1: cmc[0],
        tarAtFar: genuine.length > 0 ? (accepted / genuine.length) * 100 : NaN,
        threshold,
        impostors: impostorCount,
        excludedDistractors,
      });
    });
    return { probes: P, excludedProbes, identities: byId.size, queries, genuinePairs: genuine.length, far, sizes: results };
  } finally {
    if (!options.scorer) await scorer.release();
  }
}

/** The probe features and lists without the probes whose image was skipped. */
function withoutMissingProbes(
  loaded: { data: Float32Array; dim: number; missing?: Uint8Array },
  lists: MegafaceLists,
): { probe: { data: Float32Array; dim: number }; lists: MegafaceLists; excludedProbes: number } {
  const { missing, dim } = loaded;
  if (!missing || !missing.some((m) => m === 1)) return { probe: loaded, lists, excludedProbes: 0 };
  const keep = lists.probePaths.flatMap((_, i) => (missing[i] ? [] : [i]));
  const data = new Float32Array(keep.length * dim);
  keep.forEach((r, j) => data.set(loaded.data.subarray(r * dim, (r + 1) * dim), j * dim));
  return {
    probe: { data, dim },
    lists: { ...lists, probePaths: keep.map((i) => lists.probePaths[i]), probeIds: keep.map((i) => lists.probeIds[i]) },
    excludedProbes: lists.probePaths.length - keep.length,
  };
}

function insertSorted(arr: Float64Array, offset: number, k: number, v: number): void {
  if (!(v < arr[offset + k - 1])) return;
  let j = k - 1;
  while (j > 0 && arr[offset + j - 1] > v) {
    arr[offset + j] = arr[offset + j - 1];
    j--;
  }
  arr[offset + j] = v;
}

function accumulateBlock(
  dots: Float32Array, qn: Float64Array, xn: Float64Array, P: number, nx: number,
  maxRank: number, nearest: Float64Array, impostors: TopKLargest,
): void {
  for (let i = 0; i < P; i++) {
    const row = i * nx;
    const base = i * maxRank;
    const q = qn[i];
    let kth = nearest[base + maxRank - 1];
    for (let j = 0; j < nx; j++) {
      const d = q + xn[j] - 2 * dots[row + j];
      if (d < kth) {
        insertSorted(nearest, base, maxRank, d);
        kth = nearest[base + maxRank - 1];
      }
      if (-d > impostors.floor) impostors.push(-d);
    }
  }
}

function cleanProbes(data: Float32Array, dim: number, lists: MegafaceLists, noisy: Set<string>): void {
  const fileName = (p: string): string => p.split('/').pop() ?? p;
  const centre = new Map<string, Float64Array>();
  lists.probePaths.forEach((p, i) => {
    if (noisy.has(fileName(p))) return;
    const id = lists.probeIds[i];
    const c = centre.get(id) ?? new Float64Array(dim);
    for (let k = 0; k < dim; k++) c[k] += data[i * dim + k];
    centre.set(id, c);
  });
  lists.probePaths.forEach((p, i) => {
    if (!noisy.has(fileName(p))) return;
    const c = centre.get(lists.probeIds[i]);
    if (!c) throw new EvalError('DATASET_FORMAT', `MegaFace noise list: every image of ${lists.probeIds[i]} is listed as noise`);
    data.set(normalizeRows(Float64Array.from(c), dim), i * dim);
  });
}

/** MegaFace from the devkit's lists and the images (or their features) under dataDir. */
export async function runMegaface(
  dataDir: string,
  source: FeatureSource,
  options: MegafaceOptions & { set?: number; clean?: boolean; onProbeProgress?: (n: number, total: number) => void } = {},
): Promise<MegafaceResult> {
  const paths = megafacePaths(dataDir);
  const lists = await readMegafaceLists(dataDir, { set: options.set });
  const noises = options.clean ? await readMegafaceNoises(paths.facescrubNoises, paths.megafaceNoises) : undefined;
  const featureSource: MegafaceFeatureSource = {
    load: async (kind, relPaths) => {
      const imageDir = kind === 'probe' ? paths.probeImageDir : paths.distractorImageDir;
      const featureDir = kind === 'probe' ? paths.probeFeatureDir : paths.distractorFeatureDir;
      const m = await source.features(
        relPaths.map((p) => ({ image: `${imageDir}/${p}`, feature: `${featureDir}/${p}`, landmarksFile: `${imageDir}/${p}.json` })),
        'unit32',
        kind === 'probe' ? options.onProbeProgress : undefined,
      );
      return { data: Float32Array.from(m.data), dim: m.dim, missing: m.missing };
    },
  };
  return evaluateMegaface(lists, featureSource, { ...options, noises });
}
