// The evaluator's image pipeline: the main thread reads each image's bytes and hashes them; a
// cache hit is read from disk, a miss goes (bytes and all) to a pool of decode/align worker
// threads (align-pool.ts, align-worker.ts) while the main thread keeps onnxruntime fed with full
// batches of the image and its mirror (flip test: feature = f(img) + f(flip), summed in float64
// as ijb_onnx.py does). Each image's flip sum is cached on disk, keyed by the model's sha256, its
// preprocessing (manifest input spec, output tensor), the image's CONTENT (sha256 of its bytes)
// and its landmarks (values, or the landmark file's content): an image replaced in place is
// computed again, and a data folder moved elsewhere keeps its cache.
// An image that cannot be read fails the run (--on-bad-image fail), or is skipped and reported
// (--on-bad-image skip): the benchmark then says how its protocol treats the missing feature.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { hasCode, messageOf } from '../errors.js';
import { alignmentTemplate, flipHorizontal } from '../infer/face-align.js';
import type { ModelSession } from '../infer/model-session.js';
import { imageToTensor, inputSize, preprocessPixels, type RgbImage } from '../infer/preprocess.js';
import { preprocessingKey } from '../infer/served-pipeline.js';
import { AlignPool, startAlignWorker } from './align-pool.js';
import { EvalError } from './eval-error.js';
import { decodeFeature, DEFAULT_FEATURE_SUFFIX, featurePath, writeFeature } from './feature-file.js';
import type { FeatureForm, FeatureMatrix, FeatureSource, ImageRequest, SkippedImage } from './feature-source.js';
import { normalizeRows } from './numeric.js';

/** What to do with an image that cannot be read or decoded. */
export const BAD_IMAGE_POLICIES = ['fail', 'skip'] as const;
export type BadImagePolicy = (typeof BAD_IMAGE_POLICIES)[number];

export interface ImageEmbedderOptions {
  /** Dataset root: request paths are relative to it. */
  dataDir: string;
  session: ModelSession;
  /** manifest.sha256 of the model: the cache key. */
  modelSha256: string;
  /** Inputs per onnxruntime run (each image gives two: itself and its mirror). Default 64. */
  batchSize?: number;
  /**
   * Decode/align worker threads. Default: half the CPUs (1 to 8): on CPU inference onnxruntime
   * uses every core, and one core decodes and aligns ~100 images/s; raise it for a GPU.
   */
  workers?: number;
  /** Cache folder (features per model sha256); undefined turns the cache off. */
  cacheDir?: string;
  /** Also write each image's feature here, in the --features layout. */
  saveFeaturesDir?: string;
  suffix?: string;
  /** Flip test (default true). */
  flip?: boolean;
  /** Warnings (default: stderr). */
  warn?: (message: string) => void;
  /** An unreadable image fails the run (default) or is skipped and reported. */
  onBadImage?: BadImagePolicy;
  /** Starts one align worker (tests give a failing one). */
  startWorker?: () => Worker;
}

export interface EmbedStats {
  images: number;
  cached: number;
  computed: number;
  /** Inputs sent to onnxruntime (2 per computed image with the flip test). */
  inferences: number;
  /** Seconds spent inside session.run. */
  inferenceSeconds: number;
  /** Wall-clock seconds of features() calls. */
  seconds: number;
}

export class ImageEmbedder implements FeatureSource {
  readonly kind = 'images' as const;
  readonly stats: EmbedStats = { images: 0, cached: 0, computed: 0, inferences: 0, inferenceSeconds: 0, seconds: 0 };
  private readonly batchSize: number;
  private readonly workerCount: number;
  private readonly suffix: string;
  private readonly flip: boolean;
  private readonly preprocessingKey: string;
  private pool?: AlignPool;
  private warnedUnaligned = false;

  constructor(private readonly options: ImageEmbedderOptions) {
    this.batchSize = Math.max(options.flip === false ? 1 : 2, Math.floor(options.batchSize ?? 64));
    this.workerCount = Math.max(1, Math.floor(options.workers ?? Math.min(8, availableParallelism() / 2)));
    this.suffix = options.suffix ?? DEFAULT_FEATURE_SUFFIX;
    this.flip = options.flip !== false;
    this.preprocessingKey = preprocessingKey(options.session.manifest);
  }

  /** Images skipped under --on-bad-image skip, over every features() call. */
  readonly skipped: SkippedImage[] = [];
  /** Images decoded with a warning (damaged data decoded as imread decodes it). */
  readonly warnings: Array<{ image: string; message: string }> = [];

  /**
   * The cache file of one image: <cache>/<model sha256>/<key[0..2]>/<key>.bin, the key hashing
   * the image's content (sha256 of its bytes), its landmarks, the flip test and the preprocessing
   * (manifest input, output tensor). No path enters the key.
   */
  cachePath(imageSha256: string, landmarks: string): string | undefined {
    if (!this.options.cacheDir) return undefined;
    const key = createHash('sha256')
      .update(`${imageSha256}\0${landmarks}\0${this.flip ? 'flip' : 'noflip'}\0${this.preprocessingKey}`)
      .digest('hex');
    return join(this.options.cacheDir, this.options.modelSha256, key.slice(0, 2), `${key}.bin`);
  }

  async features(requests: readonly ImageRequest[], form: FeatureForm, onProgress?: (n: number, total: number) => void): Promise<FeatureMatrix> {
    const started = performance.now();
    const session = this.options.session;
    const dim = session.manifest.output.dimension;
    const n = requests.length;
    const sums = new Float64Array(n * dim);
    const missing = new Uint8Array(n);
    let skippedHere = 0;
    const dataDir = resolve(this.options.dataDir);
    const input = session.manifest.input;
    const itemSize = inputSize(input);
    const perImage = this.flip ? 2 : 1;
    const imagesPerBatch = Math.max(1, Math.floor(this.batchSize / perImage));
    const batch = new Float32Array(imagesPerBatch * perImage * itemSize);
    const inFlightLimit = Math.max(imagesPerBatch * 2, this.workerCount * 4, 64);
    const policy = this.options.onBadImage ?? 'fail';
    const warn = this.options.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
    const ready: Array<{ index: number; img: RgbImage; cache?: string }> = [];
    const inFlight = new Set<Promise<void>>();
    let failure: EvalError | undefined;
    let next = 0;
    let settled = 0; // requests answered: from the cache, skipped, or computed

    /** A per-image problem: fails the run, or (skip) is recorded and the image left out. */
    const bad = (index: number, code: 'DATASET_IMAGE_MISSING' | 'DATASET_IMAGE_UNREADABLE' | 'DATASET_FORMAT', message: string): void => {
      if (policy === 'fail') {
        failure ??= new EvalError(code, `${message} (--on-bad-image skip leaves such images out and reports them)`, { details: { image: requests[index].image } });
        return;
      }
      missing[index] = 1;
      skippedHere++;
      this.skipped.push({ image: requests[index].image, code, message });
      warn(`eval: skipped ${requests[index].image}: ${code}: ${message}`);
      settled++;
      onProgress?.(1, n);
    };

    const prepare = async (index: number): Promise<void> => {
      const r = requests[index];
      const abs = join(dataDir, r.image);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(abs);
      } catch (err) {
        if (hasCode(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) bad(index, 'DATASET_IMAGE_MISSING', `${abs} not found`);
        else bad(index, 'DATASET_IMAGE_UNREADABLE', `cannot read ${abs}: ${messageOf(err)}`);
        return;
      }
      const landmarksFile = r.landmarksFile ? join(dataDir, r.landmarksFile) : undefined;
      let landmarkKey = r.landmarks ? Array.from(r.landmarks).join(',') : '';
      if (landmarksFile) {
        const text = await readFile(landmarksFile, 'utf8').catch(() => undefined);
        landmarkKey = text === undefined ? 'aligned' : `json:${createHash('sha256').update(text).digest('hex')}`;
      }
      const cache = this.cachePath(createHash('sha256').update(bytes).digest('hex'), landmarkKey);
      const hit = cache ? await readCached(cache, dim) : undefined;
      if (hit) {
        sums.set(hit, index * dim);
        this.stats.cached++;
        await this.save(r, hit, form);
        settled++;
        onProgress?.(1, n);
        return;
      }
      this.pool ??= new AlignPool(this.workerCount, this.options.startWorker ?? startAlignWorker);
      // The bytes move to the worker (no copy) when they own their buffer, as readFile's do.
      const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      const res = await this.pool.run(
        { path: abs, bytes, landmarks: r.landmarks ? Float64Array.from(r.landmarks) : undefined, landmarksFile, width: input.width, height: input.height },
        owned ? [bytes.buffer as ArrayBuffer] : [],
      );
      if (!res.ok) {
        if ('poolFailure' in res) {
          failure ??= new EvalError('ALIGN_WORKER_FAILED', `Image decoding stopped: ${res.poolFailure}`);
        } else if (res.code === 'ALIGNMENT_SIZE_UNSUPPORTED') {
          failure ??= new EvalError('MODEL_NOT_EVALUABLE', `${res.error} (the model's input is ${input.width}x${input.height})`);
        } else {
          bad(index, res.code === 'DATASET_FORMAT' ? 'DATASET_FORMAT' : 'DATASET_IMAGE_UNREADABLE', res.error);
        }
        return;
      }
      if (res.warning) {
        this.warnings.push({ image: r.image, message: res.warning });
        warn(`eval: warning: ${r.image}: ${res.warning}`);
      }
      if (!res.aligned && (res.width !== input.width || res.height !== input.height) && !this.warnedUnaligned) {
        this.warnedUnaligned = true;
        warn(`eval: warning: ${r.image} has no landmarks and is ${res.width}x${res.height}; unaligned images are resized per the manifest (${input.resize})`);
      }
      ready.push({ index, img: { data: res.data, width: res.width, height: res.height, channels: 3 }, cache });
    };

    const launch = (): void => {
      while (!failure && next < n && inFlight.size + ready.length < inFlightLimit) {
        const p: Promise<void> = prepare(next++)
          .catch((err: unknown) => {
            failure ??= err instanceof EvalError ? err : new EvalError('DATASET_IMAGE_UNREADABLE', messageOf(err), { cause: err });
          })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    };

    const runBatch = async (items: Array<{ index: number; img: RgbImage; cache?: string }>): Promise<void> => {
      let k = 0;
      for (const { img } of items) {
        await this.fill(img, batch, k++ * itemSize);
        if (this.flip) await this.fill(flipHorizontal(img) as RgbImage, batch, k++ * itemSize);
      }
      const t0 = performance.now();
      const rows = await session.run(batch.subarray(0, k * itemSize), k);
      this.stats.inferenceSeconds += (performance.now() - t0) / 1000;
      this.stats.inferences += k;
      for (let j = 0; j < items.length; j++) {
        const sum = new Float64Array(dim);
        const a = rows[j * perImage];
        for (let d = 0; d < dim; d++) sum[d] = a[d];
        if (this.flip) {
          const b = rows[j * perImage + 1];
          for (let d = 0; d < dim; d++) sum[d] += b[d];
        }
        const { index, cache } = items[j];
        sums.set(sum, index * dim);
        if (cache) await writeFeature(cache, sum);
        await this.save(requests[index], sum, form);
        this.stats.computed++;
        settled++;
        onProgress?.(1, n);
      }
    };

    launch();
    while (!failure && (settled < n || ready.length > 0)) {
      if (ready.length >= imagesPerBatch || (ready.length > 0 && inFlight.size === 0)) {
        const items = ready.splice(0, imagesPerBatch);
        launch();
        await runBatch(items);
        launch();
        continue;
      }
      if (inFlight.size === 0) {
        launch();
        if (inFlight.size === 0) break;
      }
      await Promise.race(inFlight);
      launch();
    }
    await Promise.allSettled([...inFlight]);
    if (failure) throw failure;
    this.stats.images += n;
    this.stats.seconds += (performance.now() - started) / 1000;
    const data = form === 'unit32' ? toUnit32Rows(sums, dim) : sums;
    return skippedHere > 0 ? { data, dim, missing } : { data, dim };
  }

  /** Refuses, before any image is read, a model whose input size face alignment cannot produce. */
  checkAlignable(): void {
    const { width, height } = this.options.session.manifest.input;
    try {
      alignmentTemplate(width, height);
    } catch (err) {
      throw new EvalError('MODEL_NOT_EVALUABLE', `${messageOf(err)}; the model "${this.options.session.manifest.name}" cannot be evaluated on landmarks`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }

  private async fill(img: RgbImage, batch: Float32Array, offset: number): Promise<void> {
    const input = this.options.session.manifest.input;
    if (img.width === input.width && img.height === input.height) imageToTensor(img, input, batch, offset);
    else batch.set(await preprocessPixels(img, input), offset);
  }

  private async save(request: ImageRequest, sum: Float64Array, form: FeatureForm): Promise<void> {
    if (!this.options.saveFeaturesDir) return;
    const path = featurePath(this.options.saveFeaturesDir, request.feature, this.suffix);
    await writeFeature(path, form === 'unit32' ? Float32Array.from(toUnit32Rows(sum, sum.length)) : sum);
  }
}

/**
 * normalize(sum) rounded to float32, row by row, as InsightFace's gen_megaface.py writes MegaFace
 * features (sklearn normalize, then float32); returned in float64 rows.
 */
function toUnit32Rows(sums: Float64Array, dim: number): Float64Array {
  return Float64Array.from(Float32Array.from(normalizeRows(Float64Array.from(sums), dim)));
}

async function readCached(path: string, dim: number): Promise<Float64Array | undefined> {
  try {
    const v = decodeFeature(await readFile(path), path);
    return v.length === dim && v instanceof Float64Array ? v : undefined;
  } catch {
    return undefined; // missing or damaged: computed again
  }
}
