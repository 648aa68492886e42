// /openapi.json: an OpenAPI 3.0 document generated from the operations table and the error
// registry, so it cannot name a status a code does not have. Each error answer lists its codes
// (in its description and as x-error-codes); /v2 answers errors in the Open Inference
// Protocol's shape ({"error": "<message>", "code"}), every other route as {"error": {code, message}}.
import { API_KEY_SECURITY_SCHEMES } from '../auth/access-control.js';
import { ERROR_CODES } from '../error-codes.js';
import { isKservePath } from '../kserve/paths.js';
import { SERVER_NAME, SERVER_VERSION } from '../server-info.js';
import { EVERY_OPERATION, NO_OPERATION, OPERATIONS, type Operation, type RequestBody } from './operations.js';
import { componentSchemas } from './schemas.js';
import { InvariantError } from '../../errors.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** Express's `/a/:b` as OpenAPI's `/a/{b}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The error codes an operation can answer, grouped by HTTP status (from the registry). */
export function errorCodesByStatus(op: Operation): Map<number, string[]> {
  const byStatus = new Map<number, string[]>();
  for (const code of new Set([...op.errors, ...EVERY_OPERATION])) {
    const def = ERROR_CODES.get(code);
    if (!def) throw new InvariantError(`operation ${op.method.toUpperCase()} ${op.path} lists ${code}, which is not in src/server/error-codes.ts`);
    byStatus.set(def.statusCode, [...(byStatus.get(def.statusCode) ?? []), code]);
  }
  return new Map([...byStatus].sort(([a], [b]) => a - b));
}

function requestBody(body: RequestBody) {
  const multipart = (schema: string, also: Record<string, unknown> = {}) => ({
    required: true,
    content: { 'multipart/form-data': { schema: ref(schema) }, ...also },
  });
  if (body === 'image') return multipart('ImageUpload', { 'image/*': { schema: { type: 'string', format: 'binary' } } });
  if (body === 'imagePair') return multipart('ImagePairUpload');
  if (body === 'face') return multipart('FaceUpload', { 'image/*': { schema: { type: 'string', format: 'binary' } } });
  if (body === 'tensors') {
    return {
      required: true,
      content: {
        'application/json': { schema: ref('KserveInferenceRequest') },
        'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'binary tensor data: the JSON request (Inference-Header-Content-Length bytes), then the tensors' } },
      },
    };
  }
  return { required: true, content: { 'application/json': { schema: ref(body.json) } } };
}

function operationObject(op: Operation) {
  const params = [...op.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  const query = (op.query ?? []).map((p) => ({ name: p.name, in: 'query', required: false, schema: p.schema, description: p.description }));
  const errorSchema = ref(isKservePath(op.path) ? 'KserveError' : 'Error');
  const responses: Record<string, unknown> = {
    [op.answer.status]:
      'schema' in op.answer
        ? { description: 'OK', content: { 'application/json': { schema: ref(op.answer.schema) } } }
        : { description: 'OK', content: { [op.answer.mediaType]: {} } },
  };
  for (const [status, codes] of errorCodesByStatus(op)) {
    responses[status] = { description: codes.join(', '), 'x-error-codes': codes, content: { 'application/json': { schema: errorSchema } } };
  }
  return {
    operationId: `${op.method}${openApiPath(op.path).replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: op.summary,
    tags: [op.tag],
    ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
    ...(op.body ? { requestBody: requestBody(op.body) } : {}),
    ...(op.apiKey ? { security: [{ apiKey: [] }] } : {}),
    responses,
  };
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) (paths[openApiPath(op.path)] ??= {})[op.method] = operationObject(op);
  return {
    openapi: '3.0.3',
    info: {
      title: SERVER_NAME,
      version: SERVER_VERSION,
      description:
        'Image classification, face detection, 1:1 verification and 1:N identification on ONNX models, and the KServe v2 / Open Inference Protocol on raw tensors. ' +
        `Every error carries a code from one registry (components.schemas.ErrorCode); each answer lists its codes in x-error-codes. A path that matches no operation answers ${NO_OPERATION.join(', ')} (404).`,
    },
    tags: ['docs', 'health', 'models', 'inference', 'galleries', 'kserve', 'metrics'].map((name) => ({ name })),
    paths,
    components: { schemas: componentSchemas(), securitySchemes: API_KEY_SECURITY_SCHEMES },
  };
}
