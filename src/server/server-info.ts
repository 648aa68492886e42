// What the server calls itself (KServe's server metadata, the OpenAPI document's info).
import { createRequire } from 'node:module';

export const SERVER_NAME = 'protoserve';

/** The package's version (package.json sits two folders above this module in src/ and in dist/). */
export const SERVER_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
