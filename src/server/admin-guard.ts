// Who may use the admin routes (POST /v1/models/{name}/load|unload): the one place their access
// is decided. server.admin_routes: "loopback" (default: clients on this machine), "any", "off".
// When API keys arrive, the admin-key check belongs here.
import type { Request, RequestHandler } from 'express';

import type { AdminRouteMode } from '../config/server-config.js';
import { ADMIN_FORBIDDEN } from './error-codes.js';

export function adminGuard(mode: AdminRouteMode): RequestHandler {
  return (req: Request, _res, next) => {
    if (mode === 'off') throw new ADMIN_FORBIDDEN(`${req.method} ${req.path} is turned off on this server (server.admin_routes is "off")`);
    if (mode === 'loopback' && !isLoopback(req.socket.remoteAddress)) {
      throw new ADMIN_FORBIDDEN(`${req.method} ${req.path} is only answered to clients on the server's own machine (server.admin_routes is "loopback"; "any" opens it to every client)`);
    }
    next();
  };
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}
