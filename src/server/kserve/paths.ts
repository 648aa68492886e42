// The Open Inference Protocol's REST paths (open_inference_rest.yaml; the versionless forms
// from inference_rest.md), and which requests answer errors in its shape.
export const KSERVE_ROUTES = {
  server: '/v2',
  model: '/v2/models/:name',
  modelVersion: '/v2/models/:name/versions/:version',
  ready: '/v2/models/:name/ready',
  readyVersion: '/v2/models/:name/versions/:version/ready',
  infer: '/v2/models/:name/infer',
  inferVersion: '/v2/models/:name/versions/:version/infer',
} as const;

/**
 * Requests under /v2 (server metadata and /v2/models/...) answer errors as the protocol's
 * `{"error": "<message>"}`, with our code beside it. /v2/health/* keep protoserve's own shape:
 * the protocol gives them no error body, and their clients read the status.
 */
export function isKservePath(path: string): boolean {
  return /^\/v2(\/|$)/.test(path) && !path.startsWith('/v2/health/');
}
