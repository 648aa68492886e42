// Cross-origin access from browsers (server.cors_origins): off unless configured, then for the
// listed origins only (or "*"). An allowed origin's preflight is answered 204 with the methods
// and headers the API takes; any other origin gets no CORS headers, so browsers refuse the
// answer to its pages. CORS never replaces API keys: it only decides which web pages may read
// answers, and a key is still required where keys are on.
import cors from 'cors';
import type { RequestHandler } from 'express';

import { ConfigError } from '../config/load-server-config.js';

/** Request headers a cross-origin page may send. */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-API-Key', 'X-Request-Id', 'X-Request-Deadline-Ms'];
/** Answer headers a cross-origin page may read. */
const EXPOSED_HEADERS = ['X-Request-Id', 'Server-Timing', 'Retry-After', 'WWW-Authenticate'];

/** The CORS middleware for server.cors_origins, or undefined when CORS is off. */
export function corsPolicy(origins: string | undefined): RequestHandler | undefined {
  if (origins === undefined) return undefined;
  const list = parseOrigins(origins);
  return cors({
    origin: list.includes('*') ? '*' : list,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
}

/** "https://a.example, http://localhost:3000" -> origins; ConfigError naming the field for a wrong one. */
export function parseOrigins(text: string): string[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new ConfigError('server.cors_origins: expected origins separated by commas, or *');
  for (const origin of list) {
    if (origin === '*') continue;
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.origin !== origin) {
      throw new ConfigError(`server.cors_origins: ${JSON.stringify(origin)} is not an origin; expected scheme://host[:port] with no path or trailing slash, e.g. https://app.example.com`);
    }
  }
  return list;
}
