// The model artifact contract: models/<name>/model.onnx + manifest.json.
// Trainer (export) writes it; server and evaluator read it. An external ONNX model that
// protoserve did not train is described by the same manifest (see README "Serving your own model").

export const MANIFEST_SCHEMA_VERSION = 1;

export type Task = 'classifier' | 'embedder';
export type ColorOrder = 'rgb' | 'bgr' | 'gray';
export type Layout = 'NCHW' | 'NHWC';

export interface InputSpec {
  /** Graph input tensor name, e.g. "input" or "input.1". */
  tensor: string;
  layout: Layout;
  height: number;
  width: number;
  channels: number;
  color: ColorOrder;
  /** pixel' = (pixel * scale - mean[c]) / std[c]; pixel in [0, 255]. */
  scale: number;
  mean: number[];
  std: number[];
  /** How an arbitrary image becomes height x width before normalization. */
  resize: 'stretch' | 'letterbox' | 'center-crop';
}

export interface OutputSpec {
  tensor: string;
  /** probabilities (after softmax), logits, or embedding. */
  kind: 'probabilities' | 'logits' | 'embedding';
  dimension: number;
  /** Whether the graph L2-normalizes its output. */
  normalized: boolean;
}

/** Embedders: similarity threshold (cosine) at a false accept rate, filled by calibration. */
export interface OperatingPoint {
  far: number;
  threshold: number;
  /** Where the threshold came from, e.g. "ijbc impostor scores, 2026-11-28". */
  source?: string;
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
  /** Licence of imported weights, required when the weights were not trained by protoserve. */
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
  /** Embedders: operating points, sorted by FAR. */
  operatingPoints?: OperatingPoint[];
  provenance: Provenance;
}
