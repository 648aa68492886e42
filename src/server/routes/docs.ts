// GET / (the web page: try every task from a browser), GET /web/{asset} (its script and style
// sheet, plain files: no build step, nothing fetched from elsewhere) and GET /openapi.json.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Router } from 'express';

import { ROUTE_NOT_FOUND } from '../error-codes.js';
import { DOC_ROUTES } from '../openapi/doc-routes.js';
import { openApiDocument } from '../openapi/openapi-document.js';

/** src/server/web, from this module in src/server/routes (tsx) and in dist/server/routes alike. */
const WEB_DIR = fileURLToPath(new URL('../../../src/server/web/', import.meta.url));
const ASSETS: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' };

export function docRoutes(): Router {
  const router = Router();
  const read = (file: string) => readFileSync(WEB_DIR + file);
  const page = read('index.html');
  const assets = new Map(Object.keys(ASSETS).map((name) => [name, read(name)]));
  const document = JSON.stringify(openApiDocument());

  router.get(DOC_ROUTES.page, (_req, res) => {
    res.type('text/html; charset=utf-8').send(page);
  });
  router.get(DOC_ROUTES.asset, (req, res) => {
    const name = String(req.params.asset);
    const body = assets.get(name);
    if (!body) throw new ROUTE_NOT_FOUND(req.method, req.path);
    res.type(ASSETS[name]).send(body);
  });
  router.get(DOC_ROUTES.openapi, (_req, res) => {
    res.type('application/json').send(document);
  });
  return router;
}
