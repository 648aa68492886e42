// Error codes answered by the security suite (security.test.ts) and the hostile-input suite
// (hostile-input.test.ts). api.test.ts requires every other registry code to be answered in its
// own run; each of these suites checks its own list.
export const SECURITY_SUITE_CODES = ['API_KEY_REQUIRED', 'API_KEY_INVALID', 'INSUFFICIENT_SCOPE'] as const;
export const HOSTILE_SUITE_CODES = ['REQUEST_TIMEOUT', 'HEADERS_TOO_LARGE'] as const;
