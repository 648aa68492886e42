// Typed errors of API keys outside a request (start-up, `protoserve keys`); a request without a
// valid key is answered from the HTTP registry instead (API_KEY_REQUIRED, API_KEY_INVALID,
// INSUFFICIENT_SCOPE in src/server/error-codes.ts).
import { defineErrorCodes } from '../../error-registry.js';
import { ProtoserveError } from '../../errors.js';

export const AUTH_ERROR_CODES = defineErrorCodes('auth', {
  AUTH_NO_KEYS: { class: 'usage', description: 'the server must require API keys (it listens beyond loopback, or server.auth is on) but none are configured' },
  API_KEYS_INVALID: { class: 'invalid-input', description: 'the API key file or the server.api_keys records are malformed (the message names the entry)' },
  API_KEY_NOT_FOUND: { class: 'not-found', description: '`protoserve keys revoke` names a key id the key file does not hold' },
});

export type AuthErrorCode = keyof typeof AUTH_ERROR_CODES;

export class AuthError extends ProtoserveError {
  declare readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
