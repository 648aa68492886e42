// Error codes whose answers the gallery suite (galleries.test.ts) exercises. api.test.ts requires
// every other registry code to be answered in its own run; each suite checks its own list.
export const GALLERY_SUITE_CODES = [
  'BAD_LANDMARKS',
  'GALLERY_NOT_FOUND',
  'IDENTITY_NOT_FOUND',
  'FACE_NOT_FOUND',
  'GALLERY_EXISTS',
  'IDENTITY_EXISTS',
  'IDENTITY_EMPTY',
  'MODEL_MISMATCH',
  'NO_FACE_FOUND',
  'GALLERY_UNAVAILABLE',
  'FAISS_UNAVAILABLE',
] as const;
