// Where per-image features come from: precomputed files (--features, the MegaFace devkit's
// layout) or the model run on the images (embed-images.ts). Benchmarks ask for features of a
// list of images and get one float64 row each, in order.
import { DEFAULT_FEATURE_SUFFIX, featurePath, readFeature } from './feature-file.js';
import { EvalError } from './eval-error.js';

export interface ImageRequest {
  /** Image path relative to the dataset root (e.g. loose_crop/1.jpg, facescrub_images/A/A_1.png). */
  image: string;
  /** Feature path relative to the features root (without the suffix), e.g. loose_crop/1.jpg. */
  feature: string;
  /** 5 (10 numbers) or 68 (136 numbers) landmarks in image pixels; absent for aligned images. */
  landmarks?: ArrayLike<number>;
  /**
   * Or: a JSON file with the landmarks (relative to the dataset root, read when the image is
   * decoded; a missing file means the image is aligned already). See landmarks-json.ts.
   */
  landmarksFile?: string;
}

/**
 * How a benchmark's reference stores its per-image feature, and so how it is saved:
 * 'sum' = f(img) + f(flip) as float64 (LFW, IJB-B/C); 'unit32' = the L2-normalized flip sum as
 * float32 (MegaFace, as InsightFace's gen_megaface.py writes it).
 */
export type FeatureForm = 'sum' | 'unit32';

export interface FeatureMatrix {
  data: Float64Array;
  dim: number;
  /**
   * 1 for each request that has no feature (its image was skipped under --on-bad-image skip;
   * its row is zeros); absent when every request has one. Benchmarks leave such images out and
   * report what that changes (see each benchmark's `excluded` counts).
   */
  missing?: Uint8Array;
}

/** An image left out of a run, and why. */
export interface SkippedImage {
  /** Path relative to the dataset root. */
  image: string;
  code: string;
  message: string;
}

export interface FeatureSource {
  /** 'features' reads files; 'images' runs the model. */
  readonly kind: 'features' | 'images';
  /** onProgress(done, total): `done` more images are ready, out of `total` in this call. */
  features(requests: readonly ImageRequest[], form: FeatureForm, onProgress?: (n: number, total: number) => void): Promise<FeatureMatrix>;
}

/** Reads <root>/<feature><suffix> for every request, `concurrency` files at a time. */
export class FeatureFiles implements FeatureSource {
  readonly kind = 'features' as const;

  constructor(readonly root: string, readonly suffix = DEFAULT_FEATURE_SUFFIX, readonly concurrency = 64) {}

  async features(requests: readonly ImageRequest[], _form: FeatureForm, onProgress?: (n: number, total: number) => void): Promise<FeatureMatrix> {
    const n = requests.length;
    let data: Float64Array | undefined;
    let dim = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const path = featurePath(this.root, requests[i].feature, this.suffix);
        const v = await readFeature(path);
        if (!data) {
          dim = v.length;
          data = new Float64Array(n * dim);
        } else if (v.length !== dim) {
          throw new EvalError('FEATURE_DIMENSION', `${path} holds ${v.length} values, other features of this run hold ${dim}`);
        }
        data.set(v, i * dim);
        onProgress?.(1, n);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, Math.max(1, n)) }, worker));
    return { data: data ?? new Float64Array(0), dim };
  }
}
