// The threshold a verification or identification decides at. A false accept rate holds only for
// similarities computed the way it was calibrated, so only the model's operating points measured
// on the pipeline the server serves (single images, no flip test, its own preprocessing:
// servedPipeline) are used; ?threshold= or ?far= choose per request; with neither and no such
// point, the answer says so (source "uncalibrated") and decides nothing.
import type { Request } from 'express';

import type { Manifest, OperatingPoint } from '../artifact/manifest.js';
import { describePipeline, samePipeline, servedPipeline } from '../infer/served-pipeline.js';
import { INVALID_PARAMETER } from './error-codes.js';

/** The FAR a decision uses when the request names none (if the model has it). */
export const DEFAULT_FAR = 1e-4;

export interface OperatingPointChoice {
  /** calibration: a manifest operating point of the served pipeline; request: ?threshold=; uncalibrated: none. */
  source: 'calibration' | 'request' | 'uncalibrated';
  far: number | null;
  threshold: number | null;
  /** The calibration the point came from (its manifest `source`). */
  calibration?: string;
  note?: string;
}

/** The model's operating points measured on the pipeline this server serves. */
export function servedOperatingPoints(manifest: Manifest): OperatingPoint[] {
  const served = servedPipeline(manifest);
  return (manifest.operatingPoints ?? []).filter((p) => samePipeline(p.pipeline, served));
}

const near = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));

/**
 * Resolves ?threshold= (a cosine similarity in [-1, 1]) or ?far= (one of the served operating
 * points); by default FAR 1e-4 when the model has it, else its strictest served point.
 */
export function chooseOperatingPoint(req: Request, manifest: Manifest): OperatingPointChoice {
  const { threshold: rawThreshold, far: rawFar } = req.query;
  if (rawThreshold !== undefined && rawFar !== undefined) throw new INVALID_PARAMETER('threshold', 'give threshold= or far=, not both');
  if (rawThreshold !== undefined) {
    const t = typeof rawThreshold === 'string' && rawThreshold.trim() !== '' ? Number(rawThreshold) : NaN;
    if (!(t >= -1 && t <= 1)) throw new INVALID_PARAMETER('threshold', `expected a cosine similarity in [-1, 1], got ${JSON.stringify(rawThreshold)}`);
    return { source: 'request', far: null, threshold: t };
  }
  const points = servedOperatingPoints(manifest);
  const served = servedPipeline(manifest);
  const others = (manifest.operatingPoints ?? []).length - points.length;
  const elsewhere = others > 0 ? `; its ${others} other operating point${others === 1 ? ' was' : 's were'} measured on another pipeline (or an unknown one)` : '';
  const calibrateHint = 'run `protoserve eval lfw --no-flip --calibrate` to calibrate it as served, or pass threshold=';
  if (rawFar !== undefined) {
    const far = typeof rawFar === 'string' && rawFar.trim() !== '' ? Number(rawFar) : NaN;
    if (!(far > 0 && far <= 1)) throw new INVALID_PARAMETER('far', `expected a false accept rate in (0, 1], got ${JSON.stringify(rawFar)}`);
    const point = points.find((p) => near(p.far, far));
    if (!point) {
      throw new INVALID_PARAMETER(
        'far',
        points.length === 0
          ? `model "${manifest.name}" has no operating point measured on the served pipeline (${describePipeline(served)})${elsewhere}; ${calibrateHint}`
          : `model "${manifest.name}" has no operating point at FAR ${far}; it has ${points.map((p) => p.far).join(', ')}`,
      );
    }
    return fromPoint(point);
  }
  const point = points.find((p) => near(p.far, DEFAULT_FAR)) ?? points[0];
  if (point) return fromPoint(point);
  return {
    source: 'uncalibrated',
    far: null,
    threshold: null,
    note: `model "${manifest.name}" has no operating point measured on the served pipeline (${describePipeline(served)})${elsewhere}: no decision; ${calibrateHint}`,
  };
}

function fromPoint(p: OperatingPoint): OperatingPointChoice {
  return { source: 'calibration', far: p.far, threshold: p.threshold, ...(p.source ? { calibration: p.source } : {}) };
}
