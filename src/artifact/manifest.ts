// The model artifact contract: models/<name>/model.onnx + manifest.json.
// Trainer (export) writes it; server and evaluator read it. An external ONNX model that
// protoserve did not train is described by the same manifest (see docs/serving-your-own-model.md).
// validate-manifest.ts checks every field of this contract; keep the two in step.

export const MANIFEST_SCHEMA_VERSION = 1;
/** File names inside an artifact folder. */
export const MANIFEST_FILE = 'manifest.json';
export const MODEL_FILE = 'model.onnx';

export const TASKS = ['classifier', 'embedder', 'detector'] as const;
export const COLOR_ORDERS = ['rgb', 'bgr', 'gray'] as const;
export const LAYOUTS = ['NCHW', 'NHWC'] as const;
export const RESIZE_MODES = ['stretch', 'letterbox', 'center-crop'] as const;
export const OUTPUT_KINDS = ['probabilities', 'logits', 'embedding', 'detections'] as const;
export const DETECTOR_DECODERS = ['blazeface'] as const;
export const FACE_INPUTS = ['aligned', 'photo'] as const;

export type Task = (typeof TASKS)[number];
/** 'gray' means one channel (ITU-R BT.601 luma); 'rgb'/'bgr' mean three, in that order. */
export type ColorOrder = (typeof COLOR_ORDERS)[number];
export type Layout = (typeof LAYOUTS)[number];
/**
 * stretch: resize to height x width ignoring aspect; letterbox: fit inside, pad with black;
 * center-crop: fill, then crop the centre.
 */
export type ResizeMode = (typeof RESIZE_MODES)[number];
export type OutputKind = (typeof OUTPUT_KINDS)[number];

export interface InputSpec {
  /** Graph input tensor name, e.g. "input" or "input.1". */
  tensor: string;
  layout: Layout;
  height: number;
  width: number;
  /** 1 when color is 'gray', 3 for 'rgb' and 'bgr'. */
  channels: number;
  color: ColorOrder;
  /** pixel' = (pixel * scale - mean[c]) / std[c]; pixel in [0, 255]; one mean/std per channel. */
  scale: number;
  mean: number[];
  std: number[];
  /** How an arbitrary image becomes height x width before normalization. */
  resize: ResizeMode;
}

export interface OutputSpec {
  tensor: string;
  /** probabilities (after softmax) or logits for classifiers; embedding for embedders. */
  kind: OutputKind;
  dimension: number;
  /** Whether the graph L2-normalizes its output. */
  normalized: boolean;
}

/**
 * How the impostor similarities behind an operating point were computed (src/infer/served-pipeline.ts):
 * single images or IJB templates (flip-summed, media-pooled), with or without the flip test, and
 * a hash of the preprocessing (manifest input spec and output tensor).
 */
export interface ScorePipeline {
  pairs: 'image' | 'template';
  flip: boolean;
  /** sha256 of the input spec and output tensor name (preprocessingKey). */
  preprocessing: string;
}

/** Embedders: similarity threshold (cosine) at a false accept rate, filled by calibration. */
export interface OperatingPoint {
  /** False accept rate, in (0, 1]. */
  far: number;
  /** Cosine similarity, in [-1, 1]. */
  threshold: number;
  /** Where the threshold came from, e.g. "ijbc impostor scores, 2026-11-28". */
  source?: string;
  /**
   * The pipeline the threshold was measured on; the server decides only with points of the
   * pipeline it serves. Points without one (older manifests) are not used for decisions.
   */
  pipeline?: ScorePipeline;
}

/**
 * Detectors: how the output decodes into objects (src/infer/face-detection). 'blazeface': SSD
 * anchors on feature maps of the given strides (finest first, `perCell` anchors per cell, centred,
 * unit size); per anchor, in output order: a score logit, the box (centre x, y, width, height) and
 * one (x, y) per keypoint, all offsets in input pixels from the anchor centre.
 */
export interface DetectorSpec {
  decoder: (typeof DETECTOR_DECODERS)[number];
  anchors: { stride: number; perCell: number }[];
  /** Keypoint names in output order, e.g. "right_eye" (the subject's right eye). */
  keypoints: string[];
  /** Detections scoring below this probability are dropped. */
  scoreThreshold: number;
  /** Detections overlapping a better one by more than this IoU are merged into it. */
  iouThreshold: number;
}

/** Face embedders: what an image sent to /embed or /verify is, and how faces are cropped. */
export interface FaceSpec {
  /** 'aligned': an aligned crop, fed as is; 'photo': any photo: faces are detected and aligned first. */
  input: (typeof FACE_INPUTS)[number];
  /** The detector model that finds faces (default: the only detector served). */
  detector?: string;
  /**
   * The alignment template: the ArcFace 112x112 points scaled about the crop centre by this
   * factor (1: ArcFace's crop; below 1: more of the head in the crop).
   */
  templateScale?: number;
}

export interface Provenance {
  dataset?: string;
  objective?: string;
  backbone?: string;
  hyperparameters?: Record<string, unknown>;
  metrics?: Record<string, number>;
  backend?: string;
  commit?: string;
  date?: string;
  /** True when the weights were not trained by protoserve (describeExternalModel sets it). */
  imported?: boolean;
  /** Licence of imported weights, required when `imported` is true. */
  licence?: string;
  /** Export parity: max abs difference ONNX vs trainer, relative to output scale. */
  parity?: { maxAbsDiff: number; relative: number; samples: number };
  [key: string]: unknown;
}

export interface Manifest {
  schema: number;
  name: string;
  version: string;
  task: Task;
  /** The file holding the graph, relative to the artifact folder. */
  file: string;
  sha256: string;
  input: InputSpec;
  output: OutputSpec;
  /** Classifiers: one label per output index. */
  labels?: string[];
  /** Embedders: operating points, sorted by FAR; one per FAR and pipeline. */
  operatingPoints?: OperatingPoint[];
  /** Detectors: how to decode the output. */
  detector?: DetectorSpec;
  /** Face embedders: whole photos or aligned crops. */
  face?: FaceSpec;
  provenance: Provenance;
}

/** What a writer supplies: writeArtifact fills `file` and `sha256`. */
export type ManifestDraft = Omit<Manifest, 'file' | 'sha256'>;
