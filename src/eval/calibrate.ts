// Calibration: cosine-similarity thresholds at FAR 1e-3, 1e-4 and 1e-5 from a benchmark's
// impostor scores, written into the model's manifest as operating points (the server accepts a
// match when its similarity is above the threshold).
// Rule (ijb_1n.py's): k = ceil(FAR x impostors); threshold = the k-th largest impostor score, so
// fewer than FAR x impostors score above it.
import type { OperatingPoint } from '../artifact/manifest.js';
import { updateOperatingPoints } from '../artifact/update-operating-points.js';
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

/** Picks the impostor scores of the run: IJB-C template pairs first, else LFW pairs. */
export function calibrationScores(run: EvalRun): { scores: Float64Array; source: string } {
  if (run.ijbc) return { scores: run.ijbc.impostorScores, source: `IJB-C 1:1 impostor template pairs (${run.ijbc.impostor})` };
  if (run.lfw) return { scores: run.lfw.impostorScores, source: `LFW different-person pairs (${run.lfw.impostorScores.length})` };
  throw new EvalError('EVAL_USAGE', '--calibrate needs impostor scores from ijbc or lfw in the same run');
}

/**
 * Writes the operating points into the artifact's manifest; returns them. The manifest must still
 * describe the model that was evaluated: `expectedSha256` (default: run.model.sha256), else
 * ArtifactError MODEL_MANIFEST_MISMATCH and nothing is written.
 */
export async function calibrate(run: EvalRun, artifactDir: string, options: { expectedSha256?: string } = {}): Promise<CalibrationPoint[]> {
  const { scores, source } = calibrationScores(run);
  const points = thresholdsAtFar(scores).map((p) => ({ ...p, source: `${source}, protoserve eval ${run.date.slice(0, 10)}` }));
  await updateOperatingPoints(
    artifactDir,
    points.map(({ far, threshold, source: s }) => ({ far, threshold, source: s })),
    { expectedSha256: options.expectedSha256 ?? run.model?.sha256 },
  );
  return points;
}
