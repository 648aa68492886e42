import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
// @ts-expect-error: a plain .mjs script (it runs before dependencies exist), without declarations.
import { missingPackages, requiredPackages } from '../../scripts/setup/system-packages.mjs';

type Pkg = { name: string; for: string; why: string };
const script = new URL('../../scripts/setup/system-packages.mjs', import.meta.url).pathname;

describe('system packages installed by npm ci (scripts/setup/system-packages.mjs)', () => {
  it('needs Fashion-MNIST for development, and leaves development packages out of --omit=dev installs', () => {
    const all = requiredPackages({}) as Pkg[];
    assert.ok(all.some((p) => p.name === 'dataset-fashion-mnist' && p.for === 'development'));
    const runtime = requiredPackages({ npm_config_omit: 'dev' }) as Pkg[];
    assert.ok(runtime.every((p) => p.for === 'runtime'));
    assert.deepEqual(requiredPackages({ NODE_ENV: 'production' }), runtime);
    for (const p of all) assert.ok(p.why.length > 10, `${p.name} says why it is needed`);
  });

  it('reports an installed package as present and an unknown one as missing', () => {
    const missing = missingPackages([
      { name: 'dpkg', for: 'runtime', why: 'always installed on Debian' },
      { name: 'protoserve-no-such-package', for: 'runtime', why: 'never installed' },
    ]) as Pkg[];
    assert.deepEqual(missing.map((p) => p.name), ['protoserve-no-such-package']);
  });

  it('after npm ci every required package is installed, so --check passes', () => {
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('PROTOSERVE_SYSTEM_PACKAGES=skip turns the check off', () => {
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8', env: { ...process.env, PROTOSERVE_SYSTEM_PACKAGES: 'skip' } });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
  });
});
