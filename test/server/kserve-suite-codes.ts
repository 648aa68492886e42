// Error codes whose answers the KServe suite (kserve.test.ts) exercises; api.test.ts leaves them
// to it, as it leaves the gallery codes to galleries.test.ts.
export const KSERVE_SUITE_CODES = ['INFERENCE_REQUEST_INVALID', 'MODEL_VERSION_NOT_FOUND'] as const;
