// Who may use the admin routes (POST /v1/models/{name}/load|unload): the one place their access
// is decided. server.admin_routes: "loopback" (default: clients on this machine), "any", "off";
// and, when the server requires API keys, a key with the admin scope.
import type { Request, RequestHandler } from 'express';

import type { AdminRouteMode } from '../config/server-config.js';
import type { AccessControl } from './auth/access-control.js';
import { ADMIN_FORBIDDEN } from './error-codes.js';
import { isLoopbackAddress } from './loopback.js';

export function adminGuard(mode: AdminRouteMode, access: AccessControl): RequestHandler[] {
  return [access.require('admin'), clientGuard(mode)];
}

function clientGuard(mode: AdminRouteMode): RequestHandler {
  return (req: Request, _res, next) => {
    if (mode === 'off') throw new ADMIN_FORBIDDEN(`${req.method} ${req.path} is turned off on this server (server.admin_routes is "off")`);
    if (mode === 'loopback' && !isLoopbackAddress(req.socket.remoteAddress)) {
      throw new ADMIN_FORBIDDEN(`${req.method} ${req.path} is only answered to clients on the server's own machine (server.admin_routes is "loopback"; "any" opens it to every client)`);
    }
    next();
  };
}
