// KServe v2 / Open Inference Protocol beside our own routes: server metadata, model metadata and
// readiness, and inference on raw tensors, with and without /versions/{v}. Inference runs
// through the model's scheduler (micro-batching, deadlines, back-pressure) behind the same guards
// as every prediction route; the request is checked whole before anything reaches onnxruntime.
import { Router, type NextFunction, type Request, type Response } from 'express';

import { MODEL_VERSION_NOT_FOUND } from '../error-codes.js';
import { toHttpError } from '../error-handler.js';
import { inferenceBody, inferenceBodyOf, HEADER_LENGTH } from '../kserve/inference-body.js';
import { parseInferenceRequest } from '../kserve/inference-request.js';
import { inferenceResponse } from '../kserve/inference-response.js';
import { KSERVE_ROUTES } from '../kserve/paths.js';
import { signatureOf } from '../kserve/tensor-signature.js';
import type { ModelPool, ServedModel } from '../model-pool.js';
import { sendTimed } from '../request-context.js';
import { SERVER_NAME, SERVER_VERSION } from '../server-info.js';
import { findModel } from './models.js';
import { bodyRead, modelOf, predictGuards, runOptions, type PredictOptions } from './predict.js';

/** The protocol's extensions this server implements (Triton's names). */
export const KSERVE_EXTENSIONS = ['binary_tensor_data', 'classification'];
/** The protocol's platform name for a model run by ONNX Runtime. */
export const ONNX_PLATFORM = 'onnx_onnxv1';

export interface KserveOptions extends PredictOptions {
  /** Largest inference request body (JSON and binary tensor data), bytes. */
  maxTensorBodyBytes: number;
}

export function kserveRoutes(pool: ModelPool, options: KserveOptions): Router {
  const router = Router();

  router.get(KSERVE_ROUTES.server, (_req, res) => {
    res.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: KSERVE_EXTENSIONS });
  });

  const metadata = (req: Request, res: Response) => {
    const { manifest } = versioned(pool, req).session;
    const { input, output } = signatureOf(manifest);
    res.json({ name: manifest.name, versions: [manifest.version], platform: ONNX_PLATFORM, inputs: [input], outputs: [output] });
  };
  router.get(KSERVE_ROUTES.model, metadata);
  router.get(KSERVE_ROUTES.modelVersion, metadata);

  const ready = (req: Request, res: Response) => {
    const model = versioned(pool, req);
    try {
      model.session.checkReady();
    } catch (err) {
      throw toHttpError(err).with({ details: { name: model.session.name, ready: false } });
    }
    res.json({ name: model.session.name, ready: true });
  };
  router.get(KSERVE_ROUTES.ready, ready);
  router.get(KSERVE_ROUTES.readyVersion, ready);

  // An unknown model or version answers 404 before the guards.
  const knownVersion = (req: Request, _res: Response, next: NextFunction) => {
    versioned(pool, req);
    next();
  };
  const guards = [knownVersion, ...predictGuards(pool, 'any', options), inferenceBody(options.maxTensorBodyBytes)];
  const infer = async (_req: Request, res: Response) => {
    const model = modelOf(res).session;
    const context = bodyRead(res);
    const t0 = performance.now();
    const body = inferenceBodyOf(res);
    const request = parseInferenceRequest(body.json, body.binary, { model: model.name, signature: signatureOf(model.manifest), maxBatch: model.settings.maxQueue });
    context.times.decode += performance.now() - t0;
    const rows = await model.run(request.data, request.n, runOptions(context));
    const { header, binary } = inferenceResponse(model.manifest, request, rows);
    if (binary.length === 0) return sendTimed(res, () => JSON.stringify(header), 'application/json');
    sendTimed(res, () => {
      const json = Buffer.from(JSON.stringify(header));
      res.setHeader(HEADER_LENGTH, String(json.length));
      return Buffer.concat([json, ...binary]);
    }, 'application/octet-stream');
  };
  router.post(KSERVE_ROUTES.infer, ...guards, infer);
  router.post(KSERVE_ROUTES.inferVersion, ...guards, infer);
  return router;
}

/** The model named in the path, at the version the path names (if it names one). */
function versioned(pool: ModelPool, req: Request): ServedModel {
  const model = findModel(pool, req);
  const version = req.params.version;
  const { name, manifest } = model.session;
  if (version !== undefined && version !== manifest.version) throw new MODEL_VERSION_NOT_FOUND(name, version, manifest.version);
  return model;
}
