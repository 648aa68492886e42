// The real server (startServer) on the shipped models (models/: mnist-resnet8, blazeface,
// mobileface) with a fresh galleries folder, on a free loopback port; for the suites that check
// real answers (OpenAPI, KServe, the web page).
import { join } from 'node:path';

import { defaultConfig, type ServerConfig } from '../../src/config/server-config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { tempDir } from '../infer/tiny-models.js';

export const FACE_PHOTOS = join('test', 'fixtures', 'faces');

/** `server` overrides settings of the server section (e.g. auth 'on' with a key file). */
export async function startShippedServer(server: Partial<ServerConfig['server']> = {}): Promise<RunningServer & { stop(): Promise<void> }> {
  const tmp = await tempDir();
  const base = defaultConfig();
  const config: ServerConfig = { ...base, server: { ...base.server, ...server } };
  const running = await startServer({ config, modelsDir: 'models', galleriesDir: join(tmp.dir, 'galleries'), port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {}, logError: () => {} });
  await running.ready;
  return {
    ...running,
    async stop() {
      await running.close();
      await tmp.cleanup();
    },
  };
}
