// Caps the prediction requests inside the server at once (reading the body, decoding, queued,
// running). One over the cap is answered 503 OVERLOADED with Retry-After at once, before its
// body is read, so a burst costs neither memory nor CPU.
import type { RequestHandler } from 'express';

import { OVERLOADED } from './error-codes.js';

export function admission(maxInFlight: number): RequestHandler {
  let inFlight = 0;
  return (_req, res, next) => {
    if (inFlight >= maxInFlight) {
      throw new OVERLOADED(`${inFlight} requests in flight, limits.max_in_flight_requests is ${maxInFlight}`, 1).with({ retryAfterS: 1 });
    }
    inFlight++;
    res.once('close', () => inFlight--);
    next();
  };
}
