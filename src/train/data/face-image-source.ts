// A face training set read image by image (a face set does not fit in memory): identity folders
// (./face-folder-source.ts) or InsightFace's RecordIO (./face-record-source.ts).

export interface FaceImage {
  /** Identity, 0..numIdentities-1. */
  label: number;
  /** height x width x 3 RGB uint8. */
  pixels: Uint8Array;
}

export interface FaceImageSource {
  readonly count: number;
  readonly numIdentities: number;
  /** Every image's identity, by position, known without decoding the images. */
  readonly labels: Int32Array;
  /** Identity names by label (folder names; label numbers where the set has no names). */
  readonly identities: string[];
  readonly height: number;
  readonly width: number;
  /** Describes the files for provenance. */
  readonly source: string;
  /** The image at position `index` of 0..count-1. */
  read(index: number): Promise<FaceImage>;
  close(): Promise<void>;
}
