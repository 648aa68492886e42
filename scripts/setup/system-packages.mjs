#!/usr/bin/env node
// Installs the Debian packages protoserve needs, as part of `npm ci` / `npm install` (the
// package's preinstall script), so the README's two commands suffice on a fresh machine.
//
// - Packages already installed (dpkg-query) are left alone; nothing runs when all are present.
// - As root with apt-get: `apt-get update` once, then `apt-get install` of the missing ones.
// - Otherwise: stops (exit 1) with the exact command to run, and why each package is needed.
// - `--omit=dev` installs (npm_config_omit contains "dev", or NODE_ENV=production) take only the
//   packages the server needs at run time, not the ones for tests and training data.
// - PROTOSERVE_SYSTEM_PACKAGES=skip turns it off (for systems that provide the files otherwise;
//   the features that need them then say what is missing when used).
//
// Usage: node scripts/setup/system-packages.mjs [--check]   (--check: report, install nothing)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const LIST = new URL('./system-packages.json', import.meta.url);

/** @typedef {{ name: string, for: 'runtime' | 'development', why: string }} SystemPackage */

/** @returns {SystemPackage[]} */
export function requiredPackages(env = process.env) {
  /** @type {SystemPackage[]} */
  const all = JSON.parse(readFileSync(LIST, 'utf8')).packages;
  const omitDev = (env.npm_config_omit ?? '').split(/[\s,]+/).includes('dev') || env.NODE_ENV === 'production';
  return omitDev ? all.filter((p) => p.for === 'runtime') : all;
}

/** Names of `packages` that dpkg does not report as installed. */
export function missingPackages(packages) {
  return packages.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p.name], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  console.error(`protoserve setup: ${command} ${args.join(' ')}`);
  const r = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

function explain(missing) {
  return missing.map((p) => `  ${p.name}: ${p.why}`).join('\n');
}

function main() {
  if (process.env.PROTOSERVE_SYSTEM_PACKAGES === 'skip') return 0;
  const checkOnly = process.argv.includes('--check');
  if (!has('dpkg-query')) {
    const names = requiredPackages().map((p) => p.name).join(' ');
    console.error(
      `protoserve setup: this is not a Debian-based system, so the system packages cannot be checked.\n` +
        `Install the equivalents of: ${names}\nthen run again with PROTOSERVE_SYSTEM_PACKAGES=skip.`,
    );
    return 1;
  }
  const missing = missingPackages(requiredPackages());
  if (missing.length === 0) return 0;
  const names = missing.map((p) => p.name);
  const command = `apt-get install -y --no-install-recommends ${names.join(' ')}`;
  if (checkOnly) {
    console.error(`protoserve setup: missing Debian packages:\n${explain(missing)}\nInstall with: ${command}`);
    return 1;
  }
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !has('apt-get')) {
    console.error(
      `protoserve needs these Debian packages, and cannot install them itself (${root ? 'no apt-get' : 'not running as root'}):\n` +
        `${explain(missing)}\n\nRun:\n  sudo apt-get update && sudo ${command}\nthen run npm ci again.`,
    );
    return 1;
  }
  console.error(`protoserve setup: installing Debian packages:\n${explain(missing)}`);
  if (!run('apt-get', ['update', '-qq']) || !run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names])) {
    console.error(`protoserve setup: apt-get failed; run it yourself:\n  apt-get update && ${command}`);
    return 1;
  }
  const still = missingPackages(missing);
  if (still.length > 0) {
    console.error(`protoserve setup: still missing after apt-get: ${still.map((p) => p.name).join(', ')}`);
    return 1;
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main();
