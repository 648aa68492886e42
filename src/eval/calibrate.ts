// Calibration: cosine-similarity thresholds at FAR 1e-3, 1e-4 and 1e-5 from a benchmark's
// impostor scores, written into the model's manifest as operating points (the server accepts a
// match when its similarity is above the threshold).
// Rule (ijb_1n.py's): k = ceil(FAR x impostors); threshold = the k-th largest impostor score, so
// fewer than FAR x impostors score above it.
// Each point records the pipeline its scores came from (image or template pairs, flip test,
// preprocessing): a FAR holds only for similarities computed the same way, and the server
// decides only with the points of the pipeline it serves (src/infer/served-pipeline.ts).
import type { Manifest, OperatingPoint, ScorePipeline } from '../artifact/manifest.js';
import { readManifest } from '../artifact/read-artifact.js';
import { updateOperatingPoints } from '../artifact/update-operating-points.js';
import { describePipeline, preprocessingKey, samePipeline, servedPipeline } from '../infer/served-pipeline.js';
import { EvalError } from './eval-error.js';
import { farRank } from './numeric.js';
import type { EvalRun } from './report.js';

export const CALIBRATION_FARS = [1e-3, 1e-4, 1e-5] as const;

export interface CalibrationPoint extends OperatingPoint {
  /** Impostor scores above the threshold / all impostor scores (the FAR actually reached). */
  measuredFar: number;
  /** True when FAR x impostors < 1: the highest impostor score is the best the data can say. */
  underSampled: boolean;
}

/** Thresholds from impostor similarities sorted ascending. */
export function thresholdsAtFar(impostorAscending: Float64Array, fars: readonly number[] = CALIBRATION_FARS): CalibrationPoint[] {
  const n = impostorAscending.length;
  if (n === 0) throw new EvalError('METRIC_UNDEFINED', 'calibration: no impostor scores');
  return fars.map((far) => {
    const k = farRank(n, far);
    const threshold = impostorAscending[n - k];
    let above = 0;
    for (let i = n - 1; i >= 0 && impostorAscending[i] > threshold; i--) above++;
    // Cosine similarities live in [-1, 1]; rounding can step a hair outside.
    return { far, threshold: Math.max(-1, Math.min(1, threshold)), measuredFar: above / n, underSampled: far * n < 1 };
  });
}

export interface CalibrationSet {
  scores: Float64Array;
  source: string;
  pipeline: ScorePipeline;
}

/**
 * The impostor score sets of the run, each with its pipeline: LFW different-person image pairs,
 * IJB-C impostor template pairs (flip-summed, media-pooled).
 */
export function calibrationSets(run: EvalRun, how: { flip: boolean; preprocessing: string }): CalibrationSet[] {
  const sets: CalibrationSet[] = [];
  if (run.lfw) {
    sets.push({ scores: run.lfw.impostorScores, source: `LFW different-person pairs (${run.lfw.impostorScores.length})`, pipeline: { pairs: 'image', ...how } });
  }
  if (run.ijbc) {
    sets.push({ scores: run.ijbc.impostorScores, source: `IJB-C 1:1 impostor template pairs (${run.ijbc.impostor})`, pipeline: { pairs: 'template', ...how } });
  }
  if (sets.length === 0) throw new EvalError('EVAL_USAGE', '--calibrate needs impostor scores from ijbc or lfw in the same run');
  return sets;
}

/**
 * Writes the operating points of every impostor set of the run into the artifact's manifest
 * (replacing earlier points of the same pipelines); returns them. The manifest must still
 * describe the model that was evaluated: `expectedSha256` (default: run.model.sha256), else
 * ArtifactError MODEL_MANIFEST_MISMATCH and nothing is written. `flip`: whether the run's
 * features used the flip test (default true, as the reference).
 */
export async function calibrate(run: EvalRun, artifactDir: string, options: { expectedSha256?: string; flip?: boolean } = {}): Promise<CalibrationPoint[]> {
  const manifest = await readManifest(artifactDir);
  const sets = calibrationSets(run, { flip: options.flip ?? true, preprocessing: preprocessingKey(manifest) });
  const points = sets.flatMap((set) =>
    thresholdsAtFar(set.scores).map((p) => ({ ...p, source: `${set.source}, protoserve eval ${run.date.slice(0, 10)}`, pipeline: set.pipeline })),
  );
  await updateOperatingPoints(
    artifactDir,
    points.map(({ far, threshold, source: s, pipeline }) => ({ far, threshold, source: s, pipeline })),
    { expectedSha256: options.expectedSha256 ?? run.model?.sha256 },
  );
  return points;
}

/** A note when none of the points is of the pipeline the server decides with. */
export function servedPipelineNote(points: readonly OperatingPoint[], manifest: Pick<Manifest, 'input' | 'output'>): string | undefined {
  const served = servedPipeline(manifest);
  if (points.some((p) => samePipeline(p.pipeline, served))) return undefined;
  return (
    `Calibration: these operating points were measured on ${[...new Set(points.flatMap((p) => (p.pipeline ? [describePipeline(p.pipeline)] : [])))].join('; ')}; ` +
    `the server compares single images without the flip test (${describePipeline(served)}) and will not use them. ` +
    'Run `protoserve eval lfw --no-flip --calibrate` for thresholds the server can use.'
  );
}
