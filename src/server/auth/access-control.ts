// Who may call what. When the server requires API keys, every request outside the public paths
// (health, the web page, the API document) must carry a valid key (authenticate(), once for the
// whole app: a route added later is closed by default), and each route then asks for its scope
// (require(scope), in the route's own guards: predictGuards asks for `infer`, so every route
// built on it does too). Without keys both are no-ops.
//
// A key travels as `Authorization: Bearer psk_...` or `X-API-Key: psk_...`. Answers: 401
// API_KEY_REQUIRED (no key), 401 API_KEY_INVALID (not a key of this server), 403
// INSUFFICIENT_SCOPE, each with the WWW-Authenticate challenge of RFC 6750.
//
// Keys are required when server.auth is "on", or "auto" (the default) and the server listens
// beyond loopback; "off" serves everyone, even on 0.0.0.0, and says so at start.
import type { NextFunction, Request, RequestHandler, Response } from 'express';

import type { ServerSection } from '../../config/server-config.js';
import { API_KEY_INVALID, API_KEY_REQUIRED, INSUFFICIENT_SCOPE } from '../error-codes.js';
import { isLoopbackAddress } from '../loopback.js';
import { routeLabel } from '../request-log.js';
import { grants, SCOPES, type Scope } from './api-key.js';
import { AuthError } from './auth-error.js';
import { KeyRing } from './key-ring.js';
import { parseKeyRecords } from './key-store.js';

/** The key a request was authenticated with (res.locals.principal). */
export interface Principal {
  keyId: string;
  name?: string;
  scopes: readonly Scope[];
}

/**
 * The API's security schemes for its OpenAPI document (components.securitySchemes): one
 * entry; each route's scope is in its description and in `x-protoserve-scope`.
 */
export const API_KEY_SECURITY_SCHEMES = {
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'psk_<id>_<secret>',
    description:
      `API key (protoserve keys create --scopes ...), sent as Authorization: Bearer <key> (or X-API-Key: <key>). ` +
      `Scopes: ${SCOPES.join(', ')} (admin implies every other). Required when the server listens beyond loopback unless server.auth is off; health, / and /openapi.json never need one.`,
  },
} as const;

const CHALLENGE = 'Bearer realm="protoserve"';

export class AccessControl {
  private constructor(
    private readonly ring: KeyRing | undefined,
    /** Why keys are or are not required (start-up line). */
    readonly why: string,
  ) {}

  /** No keys: every request may call every route. */
  static open(why = 'API keys are off'): AccessControl {
    return new AccessControl(undefined, why);
  }

  static withKeys(ring: KeyRing, why = 'API keys are required'): AccessControl {
    return new AccessControl(ring, why);
  }

  /**
   * The access control a server section asks for: keys from the key file and server.api_keys
   * when required; AUTH_NO_KEYS when required but there are none.
   */
  static async fromConfig(server: Pick<ServerSection, 'auth' | 'host' | 'apiKeyFile' | 'apiKeys'>): Promise<AccessControl> {
    const beyondLoopback = !isLoopbackAddress(server.host);
    if (server.auth === 'off') {
      return AccessControl.open(`API keys are off (server.auth is "off")${beyondLoopback ? `: every client that reaches ${server.host} may call every route` : ''}`);
    }
    if (server.auth === 'auto' && !beyondLoopback) {
      return AccessControl.open(`API keys are off: the server listens on ${server.host} (this machine only); server.auth "on" requires them anyway`);
    }
    const records = server.apiKeys ? parseKeyRecords(server.apiKeys, 'server.api_keys') : [];
    const ring = await KeyRing.load({ file: server.apiKeyFile, records });
    const because = server.auth === 'on' ? 'server.auth is "on"' : `the server listens on ${server.host}, beyond this machine`;
    if (ring.size === 0) {
      throw new AuthError(
        'AUTH_NO_KEYS',
        `API keys are required (${because}) but there are none in ${server.apiKeyFile} or server.api_keys. ` +
          `Create one: protoserve keys create --scopes infer (it prints the key once and stores only its hash); ` +
          `or listen on this machine only (--host 127.0.0.1); or turn keys off for a network you trust (PROTOSERVE_SERVER_AUTH=off)`,
      );
    }
    return AccessControl.withKeys(ring, `API keys are required (${because}): ${ring.size} key${ring.size === 1 ? '' : 's'}`);
  }

  get required(): boolean {
    return this.ring !== undefined;
  }

  /** The key ring (to watch its file, or close it), when keys are required. */
  get keys(): KeyRing | undefined {
    return this.ring;
  }

  /** App-wide: outside `publicPaths`, a request needs a valid key (res.locals.principal). */
  authenticate(publicPaths: readonly string[]): RequestHandler {
    const ring = this.ring;
    if (!ring) return pass;
    const open = new Set(publicPaths);
    return (req: Request, res: Response, next: NextFunction) => {
      if (open.has(req.path.length > 1 ? req.path.replace(/\/$/, '') : req.path)) return next();
      const key = presentedKey(req, res);
      const record = ring.verify(key);
      if (!record) {
        res.setHeader('WWW-Authenticate', `${CHALLENGE}, error="invalid_token"`);
        throw new API_KEY_INVALID('no key of this server matches it (it may have been revoked); check the key you send');
      }
      const principal: Principal = { keyId: record.id, scopes: record.scopes, ...(record.name ? { name: record.name } : {}) };
      res.locals.principal = principal;
      next();
    };
  }

  /** A route's guard: its key must have `scope` (or admin). */
  require(scope: Scope): RequestHandler {
    if (!this.ring) return pass;
    return (req: Request, res: Response, next: NextFunction) => {
      const principal = res.locals.principal as Principal | undefined;
      if (!principal) throw new API_KEY_REQUIRED(`${req.method} ${routeLabel(req)} needs a key with the scope "${scope}"`);
      if (!grants(principal.scopes, scope)) {
        res.setHeader('WWW-Authenticate', `${CHALLENGE}, error="insufficient_scope", scope="${scope}"`);
        throw new INSUFFICIENT_SCOPE(principal.keyId, principal.scopes.join(', '), `${req.method} ${routeLabel(req)}`, scope);
      }
      next();
    };
  }
}

const pass: RequestHandler = (_req, _res, next) => next();

/** The key of `Authorization: Bearer` or `X-API-Key`; API_KEY_REQUIRED / API_KEY_INVALID otherwise. */
function presentedKey(req: Request, res: Response): string {
  const authorization = req.headers.authorization;
  const bearer = authorization === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
  const header = req.headers['x-api-key'];
  const xApiKey = typeof header === 'string' ? header.trim() : undefined;
  if (bearer !== undefined && xApiKey !== undefined && bearer !== xApiKey) {
    throw new API_KEY_INVALID('Authorization and X-API-Key carry different keys; send one');
  }
  const key = bearer ?? xApiKey;
  if (key === undefined || key === '') {
    res.setHeader('WWW-Authenticate', CHALLENGE);
    const other = authorization !== undefined && bearer === undefined ? ` (Authorization: ${authorization.split(' ')[0]} is not accepted)` : '';
    throw new API_KEY_REQUIRED(`send Authorization: Bearer <key> or X-API-Key: <key>${other}; an administrator creates keys with protoserve keys create`);
  }
  return key;
}
