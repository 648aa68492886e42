// In-memory labelled image datasets, as uint8 NHWC pixels with integer labels.

export interface ImageSplit {
  /** count x height x width x channels, uint8 pixels in [0, 255]. */
  images: Uint8Array;
  labels: Int32Array;
  count: number;
}

export interface ImageDataset {
  name: string;
  height: number;
  width: number;
  channels: number;
  /** Class names, by label index. */
  classNames: string[];
  /** Per-channel mean and std of pixel/255 over the training split (for normalization). */
  mean: number[];
  std: number[];
  train: ImageSplit;
  test: ImageSplit;
  /** Where the files came from, for provenance. */
  source: string;
}

export function pixelsPerImage(d: Pick<ImageDataset, 'height' | 'width' | 'channels'>): number {
  return d.height * d.width * d.channels;
}

/** The first `limit` examples of a split (a view, no copy). */
export function takeSplit(split: ImageSplit, limit: number, pixelsPerImage: number): ImageSplit {
  const count = Math.min(limit, split.count);
  return {
    images: split.images.subarray(0, count * pixelsPerImage),
    labels: split.labels.subarray(0, count),
    count,
  };
}
