// The JSON shapes of protoserve's answers as OpenAPI 3.0 schemas (components.schemas of
// /openapi.json). They name the fields clients rely on as required and leave room for more
// (additional properties allowed), so a new field is no breaking change; test/server/openapi.test.ts
// checks real answers against them.
import { ERROR_CODES } from '../error-codes.js';
import { KSERVE_DATATYPES } from '../kserve/tensor-signature.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({ type: 'object', properties, ...(required.length ? { required } : {}) });
const str: Schema = { type: 'string' };
const num: Schema = { type: 'number' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const arr = (items: Schema): Schema => ({ type: 'array', items });
const free: Schema = { type: 'object', additionalProperties: true };

const point = obj({ x: num, y: num });
const box = obj({ x: num, y: num, width: num, height: num });
const timeMs = obj({ total: num }, ['total']);
const modelRef = obj({ name: str, version: str });

export function componentSchemas(): Record<string, Schema> {
  return {
    ErrorCode: { type: 'string', enum: [...ERROR_CODES.keys()], description: 'src/server/error-codes.ts: one code per failure, each with its HTTP status' },
    Error: obj({ error: { ...obj({ code: ref('ErrorCode'), message: str }), additionalProperties: true } }),
    // The Open Inference Protocol's error object ($inference_error_response), our code beside it.
    KserveError: obj({ error: str, code: ref('ErrorCode') }, ['error']),
    Live: obj({ live: bool }),
    Ready: obj({ ready: bool, models: arr(free) }, ['ready']),
    ModelRef: modelRef,
    ModelSummary: obj(
      { name: str, version: str, task: { type: 'string', enum: ['classifier', 'embedder', 'detector'] }, input: free, output: free, state: str, executionProvider: str, scheduler: free },
      ['name', 'version', 'task', 'input', 'output', 'state', 'scheduler'],
    ),
    ModelList: obj({ models: arr(ref('ModelSummary')), unavailable: arr(free) }),
    Manifest: { ...obj({ name: str, version: str, task: str, input: free, output: free }), additionalProperties: true },
    Classification: obj({ model: modelRef, predictions: arr(obj({ label: str, score: num })), time_ms: timeMs }),
    Face: obj({ box, score: num, keypoints: arr(obj({ name: str, x: num, y: num })) }, ['box']),
    Detection: obj({ model: modelRef, image: obj({ width: int, height: int }), faces: arr(ref('Face')), time_ms: timeMs }),
    Embedding: obj(
      { model: modelRef, embedding: arr(num), faces: arr({ allOf: [ref('Face'), obj({ embedding: arr(num) })] }), time_ms: timeMs },
      ['model', 'time_ms'],
    ),
    Verification: obj({ model: modelRef, similarity: num, decision: { type: 'object', nullable: true }, operating_point: free, time_ms: timeMs }, ['model', 'similarity', 'time_ms']),
    Gallery: obj({ name: str, model: free, index: free, identities: int, faces: int, created: str }, ['name', 'model', 'identities', 'faces']),
    GalleryList: obj({ galleries: arr(ref('Gallery')), unavailable: arr(obj({ name: str, code: str, message: str })) }),
    GalleryAnswer: obj({ model: modelRef, gallery: ref('Gallery') }),
    GalleryDeleted: obj({ model: modelRef, deleted: obj({ gallery: str }) }),
    Identity: obj({ id: str, metadata: free, faces: int, created: str, updated: str }, ['id', 'faces']),
    IdentityAnswer: obj({ model: modelRef, identity: ref('Identity') }),
    IdentityList: obj({ model: modelRef, identities: arr(ref('Identity')), total: int, next: { type: 'string', nullable: true } }),
    IdentityDeleted: obj({ model: modelRef, deleted: obj({ identity: str }) }),
    NewIdentity: { ...obj({ id: str, metadata: free }, ['id']), additionalProperties: false },
    IdentityPatch: { ...obj({ metadata: free }, []), additionalProperties: false },
    NewGallery: { ...obj({ name: str, model: str, index: free, metadata: free }, ['name', 'model']), additionalProperties: true },
    StoredFace: obj({ id: str, created: str, source: obj({ sha256: str, image: int, face: int }, ['sha256']) }, ['id']),
    FaceList: obj({ model: modelRef, identity: str, faces: arr(ref('StoredFace')) }),
    Enrolment: obj({ model: modelRef, identity: ref('Identity'), faces: arr(free), time_ms: timeMs }, ['model', 'time_ms']),
    FaceDeleted: obj({ model: modelRef, deleted: obj({ identity: str, face: str }) }),
    Identification: obj({ model: modelRef, faces: arr(free), time_ms: timeMs }, ['model', 'faces', 'time_ms']),
    IdentityVerification: obj({ model: modelRef, time_ms: timeMs }, ['model', 'time_ms']),
    ImageUpload: obj({ image: { type: 'string', format: 'binary' } }),
    ImagePairUpload: obj({ image1: { type: 'string', format: 'binary' }, image2: { type: 'string', format: 'binary' } }),
    FaceUpload: obj({ image: { type: 'string', format: 'binary' }, landmarks: { type: 'string', description: 'JSON [[x, y], ...], five points per face' } }, ['image']),
    // The Open Inference Protocol's schemas (open_inference_rest.yaml), with the datatypes of its prose.
    KserveServerMetadata: obj({ name: str, version: str, extensions: arr(str) }),
    KserveTensorMetadata: obj({ name: str, datatype: { type: 'string', enum: [...KSERVE_DATATYPES] }, shape: arr(int) }),
    KserveModelMetadata: obj({ name: str, versions: arr(str), platform: str, inputs: arr(ref('KserveTensorMetadata')), outputs: arr(ref('KserveTensorMetadata')) }, ['name', 'platform']),
    KserveModelReady: obj({ name: str, ready: bool }),
    KserveTensorData: { type: 'array', items: { anyOf: [ref('KserveTensorData'), num, str, bool] } },
    KserveParameters: { type: 'object', additionalProperties: { anyOf: [str, num, bool] } },
    KserveInferenceRequest: obj(
      {
        id: str,
        parameters: ref('KserveParameters'),
        inputs: arr(obj({ name: str, shape: arr(int), datatype: str, parameters: ref('KserveParameters'), data: ref('KserveTensorData') }, ['name', 'shape', 'datatype'])),
        outputs: arr(obj({ name: str, parameters: ref('KserveParameters') }, ['name'])),
      },
      ['inputs'],
    ),
    KserveInferenceResponse: obj(
      {
        model_name: str,
        model_version: str,
        id: str,
        parameters: ref('KserveParameters'),
        outputs: arr(obj({ name: str, shape: arr(int), datatype: str, parameters: ref('KserveParameters'), data: ref('KserveTensorData') }, ['name', 'shape', 'datatype'])),
      },
      ['model_name', 'outputs'],
    ),
  };
}
