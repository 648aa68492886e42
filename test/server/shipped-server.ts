// The real server (startServer) on the shipped models (models/: mnist-resnet8, blazeface,
// mobileface) with a fresh galleries folder, on a free loopback port; for the suites that check
// real answers (OpenAPI, KServe, the web page).
import { join } from 'node:path';

import { startServer, type RunningServer } from '../../src/server/server.js';
import { tempDir } from '../infer/tiny-models.js';

export const FACE_PHOTOS = join('test', 'fixtures', 'faces');

export async function startShippedServer(): Promise<RunningServer & { stop(): Promise<void> }> {
  const tmp = await tempDir();
  const running = await startServer({ modelsDir: 'models', galleriesDir: join(tmp.dir, 'galleries'), port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {}, logError: () => {} });
  await running.ready;
  return {
    ...running,
    async stop() {
      await running.close();
      await tmp.cleanup();
    },
  };
}
