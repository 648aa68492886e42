#!/usr/bin/env node
// Builds faiss-node's native addon as part of `npm ci` / `npm install` (the package's postinstall),
// so the gallery's prototype index needs nothing done by hand on a fresh machine.
//
// faiss-node 0.5.1's own install script cannot succeed here: it downloads a prebuilt binary from
// GitHub, then falls back to `git clone` of faiss; neither host is reachable. Instead:
//   1. `npm pack faiss-node@0.5.1` (the npm registry only), checked against the pinned integrity;
//   2. its src/faiss.cc, patched: faiss::idx_t (which Debian's faiss 1.7.3 lacks) becomes
//      faiss::Index::idx_t, and protoserve-additions.inc adds Float32Array methods that turn faiss
//      exceptions into JavaScript errors, plus setParameter (nprobe, efSearch);
//   3. built by faiss-node/CMakeLists.txt (ours) against the system faiss (libfaiss-dev) and
//      OpenBLAS, with Node-API headers from node-api-headers and node-addon-api;
//   4. loaded once in a child process (add + search) before it is declared built.
// The addon goes to node_modules/.protoserve/faiss-node/faiss-node.node (a dot folder, so that
// `npm prune` keeps it); src/gallery/faiss-addon.ts loads it from there. A stamp skips the work
// when the same build is already there.
//
// The Debian packages it needs (libfaiss-dev, libopenblas-dev, cmake, g++) are in
// system-packages.json, installed by the preinstall step. If the build fails, npm stops with
// the reason and what to run. PROTOSERVE_FAISS=skip turns the step off (the server then answers
// gallery requests with FAISS_UNAVAILABLE and says why).
//
// Usage: node scripts/setup/build-faiss-node.mjs [--force]
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const FAISS_NODE_VERSION = '0.5.1';
const INTEGRITY = 'sha512-zD8wobJn8C6OLWo68Unho+Ih8l6nSRB2w3Amj01a+xc4bsEvd2mBDLklAn7VocA9XO3WDvQL/bLpi5flkCn/XQ==';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
/** Where the addon and its sources go; src/gallery/faiss-addon.ts reads from here. */
export const OUT_DIR = join(ROOT, 'node_modules', '.protoserve', 'faiss-node');
export const ADDON_FILE = 'faiss-node.node';
const PATCH_FILES = ['CMakeLists.txt', 'protoserve-additions.inc'];

function log(line) {
  console.error(`protoserve setup: ${line}`);
}

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (r.error) throw new Error(`${command} could not start: ${r.error.message}`);
  if (r.status !== 0) {
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${command} ${args.join(' ')} failed (exit ${r.status}):\n${output}`);
  }
  return r.stdout ?? '';
}

/** Identifies a build: faiss-node version, our patch files and this script. */
function buildKey() {
  const h = createHash('sha256').update(FAISS_NODE_VERSION).update(readFileSync(fileURLToPath(import.meta.url)));
  for (const f of PATCH_FILES) h.update(readFileSync(join(HERE, 'faiss-node', f)));
  return h.digest('hex');
}

/** The addon at `path` loads, builds an inner-product index, and finds what was added. */
export function smokeTest(path) {
  const code = `
    const faiss = require(${JSON.stringify(path)});
    const index = faiss.Index.fromFactory(4, 'Flat', 0);
    index.addFloat32(new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]));
    const r = index.searchFloat32(new Float32Array([0, 0.9, 0.1, 0]), 1);
    if (r.labels[0] !== 1 || Math.abs(r.distances[0] - 0.9) > 1e-6) throw new Error('unexpected search result ' + JSON.stringify([...r.labels, ...r.distances]));
    try { index.searchFloat32(new Float32Array(4), 0); throw new Error('k = 0 was accepted'); } catch (e) { if (!/outside/.test(e.message)) throw e; }
  `;
  run(process.execPath, ['-e', code], { env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
}

function patchSource(text) {
  const edits = [
    // Debian's faiss 1.7.3 has Index::idx_t only (faiss::idx_t arrived in 1.7.4).
    ['using idx_t = faiss::idx_t;', 'using idx_t = faiss::Index::idx_t;'],
    ['#include <faiss/index_factory.h>', '#include <faiss/index_factory.h>\n#include <faiss/AutoTune.h>\n#include <vector>'],
    ['protected:\n  std::unique_ptr<faiss::Index> index_;', '#include "../protoserve-additions.inc"\nprotected:\n  std::unique_ptr<faiss::Index> index_;'],
    [
      'InstanceMethod("toBuffer", &Index::toBuffer),',
      'InstanceMethod("toBuffer", &Index::toBuffer),\n' +
        ['addFloat32', 'trainFloat32', 'searchFloat32', 'setParameter', 'writeFile'].map((m) => `      InstanceMethod("${m}", &Index::${m}),`).join('\n'),
    ],
  ];
  let out = text;
  for (const [from, to] of edits) {
    const count = out.split(from).length - 1;
    if (count !== 1) throw new Error(`faiss-node ${FAISS_NODE_VERSION}'s src/faiss.cc: expected "${from.split('\n')[0]}" once, found it ${count} times`);
    out = out.replace(from, to);
  }
  return out;
}

function npmCommand() {
  // Inside npm's lifecycle, npm_execpath is the npm that runs us.
  const cli = process.env.npm_execpath;
  return cli && /\.(c|m)?js$/.test(cli) ? [process.execPath, [cli]] : ['npm', []];
}

function fetchPackage(work) {
  const [cmd, pre] = npmCommand();
  const out = run(cmd, [...pre, 'pack', `faiss-node@${FAISS_NODE_VERSION}`, '--pack-destination', work, '--json', '--silent'], { cwd: work });
  const file = join(work, `faiss-node-${FAISS_NODE_VERSION}.tgz`);
  const digest = `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
  if (digest !== INTEGRITY) throw new Error(`faiss-node-${FAISS_NODE_VERSION}.tgz has integrity ${digest}, expected ${INTEGRITY} (npm pack said: ${out.trim().slice(0, 200)})`);
  run('tar', ['-xzf', file, '-C', work]);
  return join(work, 'package');
}

function build() {
  const started = performance.now();
  const key = buildKey();
  const stampFile = join(OUT_DIR, 'build-stamp.json');
  const addon = join(OUT_DIR, ADDON_FILE);
  if (!process.argv.includes('--force') && existsSync(addon) && existsSync(stampFile)) {
    try {
      if (JSON.parse(readFileSync(stampFile, 'utf8')).key === key) {
        smokeTest(addon);
        log(`faiss-node ${FAISS_NODE_VERSION} already built (${addon})`);
        return;
      }
    } catch {
      // rebuild below
    }
  }
  for (const tool of ['cmake', 'c++', 'tar']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
      throw new Error(`${tool} is not installed (the preinstall step installs cmake and g++ from system-packages.json)`);
    }
  }
  const require = createRequire(join(ROOT, 'package.json'));
  const headers = dirname(require.resolve('node-api-headers/package.json'));
  const addonApi = dirname(require.resolve('node-addon-api/package.json'));

  const work = mkdtempSync(join(tmpdir(), 'protoserve-faiss-node-'));
  try {
    const pkg = fetchPackage(work);
    rmSync(OUT_DIR, { recursive: true, force: true });
    mkdirSync(join(OUT_DIR, 'src'), { recursive: true });
    writeFileSync(join(OUT_DIR, 'src', 'faiss.cc'), patchSource(readFileSync(join(pkg, 'src', 'faiss.cc'), 'utf8')));
    copyFileSync(join(pkg, 'LICENSE'), join(OUT_DIR, 'LICENSE'));
    for (const f of PATCH_FILES) copyFileSync(join(HERE, 'faiss-node', f), join(OUT_DIR, f));
    const buildDir = join(OUT_DIR, 'build');
    run('cmake', ['-S', OUT_DIR, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', `-DNODE_API_HEADERS_DIR=${join(headers, 'include')}`, `-DNODE_ADDON_API_DIR=${addonApi}`]);
    run('cmake', ['--build', buildDir, '--parallel', '2']);
    copyFileSync(join(buildDir, ADDON_FILE), addon);
    rmSync(buildDir, { recursive: true, force: true });
    smokeTest(addon);
    writeFileSync(stampFile, `${JSON.stringify({ key, version: FAISS_NODE_VERSION, date: new Date().toISOString() })}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`built faiss-node ${FAISS_NODE_VERSION} against the system faiss in ${((performance.now() - started) / 1000).toFixed(1)} s (${addon})`);
}

function main() {
  if (process.env.PROTOSERVE_FAISS === 'skip') {
    log('PROTOSERVE_FAISS=skip: faiss-node not built; galleries answer FAISS_UNAVAILABLE');
    return 0;
  }
  try {
    build();
    return 0;
  } catch (err) {
    console.error(
      `protoserve setup: could not build faiss-node ${FAISS_NODE_VERSION} (the gallery's prototype index):\n${err.message}\n\n` +
        `It needs the Debian packages libfaiss-dev libopenblas-dev cmake g++ (scripts/setup/system-packages.json):\n` +
        `  sudo apt-get install -y --no-install-recommends libfaiss-dev libopenblas-dev cmake g++\n` +
        `then run npm ci again (or node scripts/setup/build-faiss-node.mjs --force).\n` +
        `PROTOSERVE_FAISS=skip installs without it; the server then refuses gallery requests with FAISS_UNAVAILABLE.`,
    );
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main();
