// Every operation protoserve answers, in one table: method, path (the routers' own constants),
// what it takes and answers, and the error codes it can send. /openapi.json is generated from
// this table (openapi-document.ts), and test/server/openapi.test.ts holds it to the routers
// (every route documented, every documented route served) and to the error registry.
import { KSERVE_ROUTES } from '../kserve/paths.js';
import { DETECT_ROUTES } from '../routes/detect.js';
import { FACE_ROUTES } from '../routes/faces.js';
import { GALLERY_ROUTES } from '../routes/galleries.js';
import { HEALTH_ROUTES } from '../routes/health.js';
import { IDENTITY_ROUTES } from '../routes/identities.js';
import { METRICS_ROUTES } from '../routes/metrics.js';
import { MODEL_ROUTES } from '../routes/models.js';
import { PREDICT_ROUTES } from '../routes/predict.js';
import { DOC_ROUTES } from './doc-routes.js';

export type Method = 'get' | 'post' | 'patch' | 'delete';
export type RequestBody = 'image' | 'imagePair' | 'face' | 'tensors' | { json: string };

export interface QueryParameter {
  name: string;
  schema: Record<string, unknown>;
  description: string;
}

export interface Operation {
  method: Method;
  /** Express path (`:param`), as the router registers it. */
  path: string;
  summary: string;
  tag: 'health' | 'models' | 'inference' | 'galleries' | 'kserve' | 'docs' | 'metrics';
  query?: QueryParameter[];
  body?: RequestBody;
  /** Success status and the components.schemas name of its body (HTML and JSON documents: a media type). */
  answer: { status: number; schema: string } | { status: number; mediaType: string };
  /** Error codes this operation can answer, besides the ones every operation can (EVERY_OPERATION). */
  errors: string[];
  /** Whether the operation needs an API key when keys are on (set below from the tag). */
  apiKey?: boolean;
}

/**
 * Codes any operation can answer: a malformed path or body, a wrong method, a bug, and the HTTP
 * layer's refusals (a client too slow, headers too large: src/server/client-errors.ts).
 */
export const EVERY_OPERATION = ['BAD_REQUEST', 'METHOD_NOT_ALLOWED', 'INTERNAL', 'REQUEST_TIMEOUT', 'HEADERS_TOO_LARGE'];
/** What an operation behind API keys can answer (src/server/auth/access-control.ts). */
export const KEY_ERRORS = ['API_KEY_REQUIRED', 'API_KEY_INVALID', 'INSUFFICIENT_SCOPE'];
/** Tags whose operations never need a key: health probes, the web page and this document. */
const PUBLIC_TAGS: readonly Operation['tag'][] = ['health', 'docs'];
/** An answer for a path no operation matches (not an operation: listed in the document's info). */
export const NO_OPERATION = ['ROUTE_NOT_FOUND'];

const q = (name: string, type: string, description: string, extra: Record<string, unknown> = {}): QueryParameter => ({ name, schema: { type, ...extra }, description });
const FACE_INPUT = q('input', 'string', 'photo: find and align faces with the served detector; aligned: the image is an aligned face crop', { enum: ['photo', 'aligned'] });
const DETECTOR = q('detector', 'string', 'the detector for ?input=photo (default: the manifest\'s face.detector, or the only one served)');

// What the guards of a prediction route answer (admission, model, task, state, parameters, deadline).
const PREDICT = ['OVERLOADED', 'MODEL_NOT_FOUND', 'WRONG_TASK', 'MODEL_UNAVAILABLE', 'INVALID_PARAMETER', 'DEADLINE_EXCEEDED', 'INFERENCE_FAILED'];
const IMAGE = ['IMAGE_REQUIRED', 'MULTIPART_MALFORMED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'IMAGE_UNREADABLE', 'IMAGE_TOO_LARGE'];
const PHOTO_FACES = ['DETECTOR_UNAVAILABLE', 'NO_FACE_FOUND', 'FACE_INDEX_OUT_OF_RANGE'];
const GALLERY = ['GALLERY_UNAVAILABLE', 'FAISS_UNAVAILABLE', 'GALLERY_NOT_FOUND'];
const JSON_BODY = ['UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE'];
const GALLERY_FACES = [...GALLERY, ...PREDICT, ...IMAGE, ...PHOTO_FACES, 'BAD_LANDMARKS', 'MODEL_MISMATCH'];
const KSERVE_MODEL = ['MODEL_NOT_FOUND', 'MODEL_VERSION_NOT_FOUND'];
const KSERVE_INFER = [...KSERVE_MODEL, ...PREDICT, 'INFERENCE_REQUEST_INVALID', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE'];

/** The KServe routes with and without /versions/{version}: the same operation twice. */
function versioned(op: Omit<Operation, 'path'>, path: string, versionPath: string): Operation[] {
  return [
    { ...op, path },
    { ...op, path: versionPath, summary: `${op.summary} (one version)` },
  ];
}

const TABLE: readonly Operation[] = [
  { method: 'get', path: DOC_ROUTES.page, summary: 'The web page: try every task in a browser', tag: 'docs', answer: { status: 200, mediaType: 'text/html' }, errors: [] },
  { method: 'get', path: DOC_ROUTES.asset, summary: "The web page's script and style sheet", tag: 'docs', answer: { status: 200, mediaType: 'text/javascript' }, errors: ['ROUTE_NOT_FOUND'] },
  { method: 'get', path: DOC_ROUTES.openapi, summary: 'This document', tag: 'docs', answer: { status: 200, mediaType: 'application/json' }, errors: [] },
  { method: 'get', path: HEALTH_ROUTES.live, summary: 'Liveness', tag: 'health', answer: { status: 200, schema: 'Live' }, errors: [] },
  { method: 'get', path: HEALTH_ROUTES.ready, summary: 'Readiness: every loaded model ran one real inference', tag: 'health', answer: { status: 200, schema: 'Ready' }, errors: ['NOT_READY'] },
  { method: 'get', path: MODEL_ROUTES.list, summary: 'The served models', tag: 'models', answer: { status: 200, schema: 'ModelList' }, errors: [] },
  { method: 'get', path: MODEL_ROUTES.one, summary: "A model's manifest", tag: 'models', answer: { status: 200, schema: 'Manifest' }, errors: ['MODEL_NOT_FOUND'] },
  { method: 'post', path: MODEL_ROUTES.load, summary: '(Re)load a model from the models folder (admin)', tag: 'models', answer: { status: 200, schema: 'ModelSummary' }, errors: ['ADMIN_FORBIDDEN', 'MODEL_NOT_FOUND', 'MODEL_LOAD_FAILED'] },
  { method: 'post', path: MODEL_ROUTES.unload, summary: 'Unload a model (admin)', tag: 'models', answer: { status: 200, schema: 'ModelSummary' }, errors: ['ADMIN_FORBIDDEN', 'MODEL_NOT_FOUND'] },
  {
    method: 'post',
    path: PREDICT_ROUTES.classify,
    summary: 'Classify an image: top-k labels and scores',
    tag: 'inference',
    query: [q('top_k', 'integer', 'how many labels (default 5)', { minimum: 1 })],
    body: 'image',
    answer: { status: 200, schema: 'Classification' },
    errors: [...PREDICT, ...IMAGE],
  },
  {
    method: 'post',
    path: PREDICT_ROUTES.embed,
    summary: 'Embed an image (an aligned crop) or every face of a photo',
    tag: 'inference',
    query: [FACE_INPUT, DETECTOR],
    body: 'image',
    answer: { status: 200, schema: 'Embedding' },
    errors: [...PREDICT, ...IMAGE, ...PHOTO_FACES],
  },
  {
    method: 'post',
    path: PREDICT_ROUTES.verify,
    summary: '1:1 verification: the cosine similarity of two faces and the decision at an operating point',
    tag: 'inference',
    query: [
      q('far', 'number', 'the operating point by false accept rate (default 1e-4)'),
      q('threshold', 'number', 'a similarity threshold of your choosing instead'),
      FACE_INPUT,
      DETECTOR,
      q('face1', 'integer', 'which face of image1 (0: the largest)', { minimum: 0 }),
      q('face2', 'integer', 'which face of image2 (0: the largest)', { minimum: 0 }),
    ],
    body: 'imagePair',
    answer: { status: 200, schema: 'Verification' },
    errors: [...PREDICT, ...IMAGE, ...PHOTO_FACES],
  },
  {
    method: 'post',
    path: DETECT_ROUTES.detect,
    summary: 'Detect faces: boxes, scores and keypoints in the photo\'s pixels, largest first',
    tag: 'inference',
    query: [q('score_threshold', 'number', 'the least face score', { minimum: 0, maximum: 1 }), q('max_faces', 'integer', 'most faces answered', { minimum: 1 })],
    body: 'image',
    answer: { status: 200, schema: 'Detection' },
    errors: [...PREDICT, ...IMAGE],
  },
  { method: 'get', path: GALLERY_ROUTES.list, summary: 'The galleries', tag: 'galleries', answer: { status: 200, schema: 'GalleryList' }, errors: ['GALLERY_UNAVAILABLE', 'FAISS_UNAVAILABLE'] },
  {
    method: 'post',
    path: GALLERY_ROUTES.list,
    summary: 'Create a gallery bound to an embedder',
    tag: 'galleries',
    body: { json: 'NewGallery' },
    answer: { status: 201, schema: 'GalleryAnswer' },
    errors: ['GALLERY_UNAVAILABLE', 'FAISS_UNAVAILABLE', 'GALLERY_EXISTS', 'MODEL_NOT_FOUND', 'WRONG_TASK', 'INVALID_PARAMETER', ...JSON_BODY],
  },
  { method: 'get', path: GALLERY_ROUTES.one, summary: 'A gallery and its index', tag: 'galleries', answer: { status: 200, schema: 'GalleryAnswer' }, errors: GALLERY },
  { method: 'delete', path: GALLERY_ROUTES.one, summary: 'Delete a gallery', tag: 'galleries', answer: { status: 200, schema: 'GalleryDeleted' }, errors: GALLERY },
  {
    method: 'post',
    path: GALLERY_ROUTES.identify,
    summary: '1:N identification: the top-k identities of every face, or unknown',
    tag: 'galleries',
    query: [q('k', 'integer', 'candidates per face (default 5, at most 100)', { minimum: 1 }), FACE_INPUT, DETECTOR],
    body: 'face',
    answer: { status: 200, schema: 'Identification' },
    errors: GALLERY_FACES,
  },
  {
    method: 'get',
    path: IDENTITY_ROUTES.list,
    summary: 'Identities, a page at a time',
    tag: 'galleries',
    query: [q('limit', 'integer', 'page size (default 50, at most 1000)', { minimum: 1 }), q('cursor', 'string', 'the `next` of the previous page')],
    answer: { status: 200, schema: 'IdentityList' },
    errors: [...GALLERY, 'INVALID_PARAMETER'],
  },
  { method: 'post', path: IDENTITY_ROUTES.list, summary: 'Create an identity', tag: 'galleries', body: { json: 'NewIdentity' }, answer: { status: 201, schema: 'IdentityAnswer' }, errors: [...GALLERY, 'IDENTITY_EXISTS', ...JSON_BODY] },
  { method: 'get', path: IDENTITY_ROUTES.one, summary: 'An identity', tag: 'galleries', answer: { status: 200, schema: 'IdentityAnswer' }, errors: [...GALLERY, 'IDENTITY_NOT_FOUND'] },
  { method: 'patch', path: IDENTITY_ROUTES.one, summary: "Replace an identity's metadata", tag: 'galleries', body: { json: 'IdentityPatch' }, answer: { status: 200, schema: 'IdentityAnswer' }, errors: [...GALLERY, 'IDENTITY_NOT_FOUND', ...JSON_BODY] },
  { method: 'delete', path: IDENTITY_ROUTES.one, summary: 'Delete an identity and its faces', tag: 'galleries', answer: { status: 200, schema: 'IdentityDeleted' }, errors: [...GALLERY, 'IDENTITY_NOT_FOUND'] },
  {
    method: 'post',
    path: IDENTITY_ROUTES.verify,
    summary: "Verify faces against an identity's prototype",
    tag: 'galleries',
    query: [FACE_INPUT, DETECTOR],
    body: 'face',
    answer: { status: 200, schema: 'IdentityVerification' },
    errors: [...GALLERY_FACES, 'IDENTITY_NOT_FOUND', 'IDENTITY_EMPTY'],
  },
  {
    method: 'get',
    path: FACE_ROUTES.list,
    summary: "An identity's enrolled faces",
    tag: 'galleries',
    query: [q('embeddings', 'boolean', 'include each face\'s embedding')],
    answer: { status: 200, schema: 'FaceList' },
    errors: [...GALLERY, 'IDENTITY_NOT_FOUND'],
  },
  {
    method: 'post',
    path: FACE_ROUTES.list,
    summary: 'Enrol faces: aligned crops, photos with landmarks, or whole photos (?input=photo: the largest face)',
    tag: 'galleries',
    query: [FACE_INPUT, DETECTOR],
    body: 'face',
    answer: { status: 201, schema: 'Enrolment' },
    errors: [...GALLERY_FACES, 'IDENTITY_NOT_FOUND'],
  },
  { method: 'delete', path: FACE_ROUTES.one, summary: 'Delete an enrolled face', tag: 'galleries', answer: { status: 200, schema: 'FaceDeleted' }, errors: [...GALLERY, 'IDENTITY_NOT_FOUND', 'FACE_NOT_FOUND'] },
  // KServe v2 / Open Inference Protocol (open_inference_rest.yaml).
  { method: 'get', path: KSERVE_ROUTES.server, summary: 'Server metadata', tag: 'kserve', answer: { status: 200, schema: 'KserveServerMetadata' }, errors: [] },
  ...versioned({ method: 'get', summary: 'Model metadata: tensors, datatypes, shapes (-1: dynamic)', tag: 'kserve', answer: { status: 200, schema: 'KserveModelMetadata' }, errors: KSERVE_MODEL }, KSERVE_ROUTES.model, KSERVE_ROUTES.modelVersion),
  ...versioned({ method: 'get', summary: 'Model readiness', tag: 'kserve', answer: { status: 200, schema: 'KserveModelReady' }, errors: [...KSERVE_MODEL, 'MODEL_UNAVAILABLE'] }, KSERVE_ROUTES.ready, KSERVE_ROUTES.readyVersion),
  ...versioned(
    { method: 'post', summary: 'Inference on raw tensors (JSON, or binary tensor data)', tag: 'kserve', body: 'tensors', answer: { status: 200, schema: 'KserveInferenceResponse' }, errors: KSERVE_INFER },
    KSERVE_ROUTES.infer,
    KSERVE_ROUTES.inferVersion,
  ),
];

const METRICS: Operation = { method: 'get', path: METRICS_ROUTES.metrics, summary: 'Prometheus metrics (scope metrics)', tag: 'metrics', answer: { status: 200, mediaType: 'text/plain; version=0.0.4' }, errors: [] };

/** Every operation; those outside the public tags need an API key when keys are on. */
export const OPERATIONS: readonly Operation[] = [...TABLE, METRICS].map((op) => (PUBLIC_TAGS.includes(op.tag) ? op : { ...op, errors: [...op.errors, ...KEY_ERRORS], apiKey: true }));
