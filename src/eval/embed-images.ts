// The evaluator's image pipeline: images are read, decoded and aligned by a pool of worker
// threads (align-worker.ts) while the main thread keeps onnxruntime fed with full batches of
// the image and its mirror (flip test: feature = f(img) + f(flip), summed in float64 as
// ijb_onnx.py does). Each image's flip sum is cached on disk, keyed by the model's sha256, its
// preprocessing (manifest input spec, output tensor) and the image's absolute path (and
// landmarks), so a second run only reads files.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

import type { ModelSession } from '../infer/model-session.js';
import { flipHorizontal } from '../infer/face-align.js';
import { imageToTensor, inputSize, preprocessPixels, type RgbImage } from '../infer/preprocess.js';
import { preprocessingKey } from '../infer/served-pipeline.js';
import { EvalError } from './eval-error.js';
import { decodeFeature, DEFAULT_FEATURE_SUFFIX, featurePath, writeFeature } from './feature-file.js';
import type { FeatureForm, FeatureMatrix, FeatureSource, ImageRequest } from './feature-source.js';
import type { AlignResult, AlignTask } from './align-worker.js';

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

/**
 * The align worker. Built (dist/) it is align-worker.js; run from source through tsx, the
 * worker thread gets tsx's loader first (a worker does not inherit --import hooks everywhere).
 */
function startAlignWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./align-worker.js', import.meta.url));
  const target = new URL('./align-worker.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const boot =
    `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(target)}); })` +
    `.catch((err) => { console.error(err); process.exit(1); });`;
  return new Worker(boot, { eval: true });
}

/** A pool of align workers; tasks are answered in any order. */
class AlignPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, (r: AlignResult) => void>();
  private next = 0;
  private failed?: Error;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = startAlignWorker();
      w.on('message', (r: AlignResult) => {
        const resolve = this.pending.get(r.id);
        this.pending.delete(r.id);
        resolve?.(r);
      });
      w.on('error', (err) => {
        this.failed = err;
        for (const [id, resolve] of this.pending) resolve({ id, ok: false, error: `align worker failed: ${err.message}` });
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  run(task: Omit<AlignTask, 'id'>): Promise<AlignResult> {
    if (this.failed) return Promise.resolve({ id: -1, ok: false, error: `align worker failed: ${this.failed.message}` });
    const id = this.next++;
    const worker = this.workers[id % this.workers.length];
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      worker.postMessage({ ...task, id });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
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

  /**
   * The cache file of one image: <cache>/<model sha256>/<key[0..2]>/<key>.bin, the key hashing
   * the image, its landmarks, the flip test and the preprocessing (manifest input, output tensor).
   */
  cachePath(absImage: string, landmarks: string): string | undefined {
    if (!this.options.cacheDir) return undefined;
    const key = createHash('sha256')
      .update(`${absImage}\0${landmarks}\0${this.flip ? 'flip' : 'noflip'}\0${this.preprocessingKey}`)
      .digest('hex');
    return join(this.options.cacheDir, this.options.modelSha256, key.slice(0, 2), `${key}.bin`);
  }

  async features(requests: readonly ImageRequest[], form: FeatureForm, onProgress?: (n: number, total: number) => void): Promise<FeatureMatrix> {
    const started = performance.now();
    const session = this.options.session;
    const dim = session.manifest.output.dimension;
    const n = requests.length;
    const sums = new Float64Array(n * dim);
    const dataDir = resolve(this.options.dataDir);

    // 1. Cache look-ups.
    const keys = requests.map((r) => {
      const abs = join(dataDir, r.image);
      const lmk = r.landmarks ? Array.from(r.landmarks).join(',') : r.landmarksFile ? `file:${join(dataDir, r.landmarksFile)}` : '';
      return { abs, cache: this.cachePath(abs, lmk) };
    });
    const missing: number[] = [];
    await mapConcurrent(n, 64, async (i) => {
      const path = keys[i].cache;
      const hit = path ? await readCached(path, dim) : undefined;
      if (hit) {
        sums.set(hit, i * dim);
        this.stats.cached++;
        await this.save(requests[i], hit, form);
        onProgress?.(1, n);
      } else missing.push(i);
    });
    missing.sort((a, b) => a - b);

    // 2. Decode + align in the workers, a bounded number in flight; batches to onnxruntime.
    if (missing.length > 0) {
      this.pool ??= new AlignPool(this.workerCount);
      const pool = this.pool;
      const input = session.manifest.input;
      const itemSize = inputSize(input);
      const perImage = this.flip ? 2 : 1;
      const imagesPerBatch = Math.max(1, Math.floor(this.batchSize / perImage));
      const batch = new Float32Array(imagesPerBatch * perImage * itemSize);
      const inFlightLimit = Math.max(imagesPerBatch * 2, this.workerCount * 4);
      let nextTask = 0;
      const ready: Array<{ index: number; img: RgbImage }> = [];
      const inFlight = new Set<Promise<void>>();
      let failure: EvalError | undefined;

      const launch = (): void => {
        while (!failure && nextTask < missing.length && inFlight.size + ready.length < inFlightLimit) {
          const index = missing[nextTask++];
          const r = requests[index];
          const p = pool
            .run({
              path: keys[index].abs,
              landmarks: r.landmarks ? Float64Array.from(r.landmarks) : undefined,
              landmarksFile: r.landmarksFile ? join(dataDir, r.landmarksFile) : undefined,
              size: input.width,
            })
            .then((res) => {
              if (!res.ok) {
                failure ??= new EvalError('DATASET_FORMAT', `Cannot read image ${res.error}`);
                return;
              }
              if (!res.aligned && (res.width !== input.width || res.height !== input.height) && !this.warnedUnaligned) {
                this.warnedUnaligned = true;
                const warn = this.options.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
                warn(`eval: warning: ${r.image} has no landmarks and is ${res.width}x${res.height}; unaligned images are resized per the manifest (${input.resize})`);
              }
              ready.push({ index, img: { data: res.data, width: res.width, height: res.height, channels: 3 } });
            })
            .finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
      };

      const runBatch = async (items: Array<{ index: number; img: RgbImage }>): Promise<void> => {
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
          const index = items[j].index;
          sums.set(sum, index * dim);
          const cache = keys[index].cache;
          if (cache) await writeFeature(cache, sum);
          await this.save(requests[index], sum, form);
          this.stats.computed++;
          onProgress?.(1, n);
        }
      };

      launch();
      let done = 0;
      while (done < missing.length) {
        if (failure) break;
        if (ready.length >= imagesPerBatch || (ready.length > 0 && inFlight.size === 0)) {
          const items = ready.splice(0, imagesPerBatch);
          launch();
          await runBatch(items);
          done += items.length;
          launch();
          continue;
        }
        if (inFlight.size === 0) {
          launch();
          if (inFlight.size === 0 && ready.length === 0) break;
        }
        await Promise.race(inFlight);
        launch();
      }
      await Promise.allSettled([...inFlight]);
      if (failure) throw failure;
    }
    this.stats.images += n;
    this.stats.seconds += (performance.now() - started) / 1000;
    if (form === 'unit32') {
      // The benchmark's reference works on normalized float32 features.
      const out = new Float64Array(n * dim);
      for (let i = 0; i < n; i++) out.set(toUnit32(sums.subarray(i * dim, (i + 1) * dim)), i * dim);
      return { data: out, dim };
    }
    return { data: sums, dim };
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
    await writeFeature(path, form === 'unit32' ? toUnit32(sum) : sum);
  }
}

/** normalize(sum) as float32, as InsightFace's gen_megaface.py writes MegaFace features. */
function toUnit32(sum: Float64Array): Float32Array {
  let sq = 0;
  for (let d = 0; d < sum.length; d++) sq += sum[d] * sum[d];
  const norm = Math.sqrt(sq) || 1;
  return Float32Array.from(sum, (v) => v / norm);
}

async function readCached(path: string, dim: number): Promise<Float64Array | undefined> {
  try {
    const v = decodeFeature(await readFile(path), path);
    return v.length === dim && v instanceof Float64Array ? v : undefined;
  } catch {
    return undefined; // missing or damaged: computed again
  }
}

async function mapConcurrent(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, Math.max(1, n)) }, worker));
}
