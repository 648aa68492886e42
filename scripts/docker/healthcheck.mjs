#!/usr/bin/env node
// The images' HEALTHCHECK: GET /v2/health/ready on this machine's port ($PORT, default 8080);
// exit 0 when every model is ready, 1 otherwise. Readiness needs no API key.
const port = process.env.PORT || '8080';
try {
  const res = await fetch(`http://127.0.0.1:${port}/v2/health/ready`, { signal: AbortSignal.timeout(3000) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}
