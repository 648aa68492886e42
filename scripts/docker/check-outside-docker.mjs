#!/usr/bin/env node
// Runs the Dockerfile's steps for a target without Docker: the same RUN scripts, in the same
// order, read from the Dockerfile itself (so the two cannot drift apart), in a fresh folder that
// stands for /app. COPY from the build context copies the tracked files (git ls-files, less
// .dockerignore); COPY --from another stage is already there (one folder); ARG and ENV apply.
// The server target is then started as its ENTRYPOINT says and probed with its HEALTHCHECK, a
// request with and without an API key, and SIGTERM.
//
// What differs from a Docker build, by design, and is printed:
// - no base image: this machine's Node.js (must be 20) and Debian stand for node:20-bookworm, and
//   the CUDA images' libraries are not checked (no GPU here); runtime-libs.sh and runtime-user.sh
//   run in check mode (PROTOSERVE_DOCKER_CHECK=1): they install nothing and create no user, but
//   check every native addon's libraries and the volumes' folders;
// - build args default to offline values where a step downloads from outside the npm registry:
//   ORT_INSTALL=skip (onnxruntime-node's CUDA files come from NuGet/GitHub) and TFJS_NODE_GPU=skip
//   (libtensorflow from Google storage); pass --build-arg ORT_INSTALL=cuda12 where reachable;
// - the server listens on 127.0.0.1 with API keys on (server.auth=on), not on 0.0.0.0.
//
// Usage: node scripts/docker/check-outside-docker.mjs [--target server|trainer]... [--build-arg K=V]... [--keep]
// Exit status 0 when every step and probe passed.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parseAssignments, readStages, stageChain } from './dockerfile-stages.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OFFLINE_ARGS = { ORT_INSTALL: 'skip', TFJS_NODE_GPU: 'skip' };

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true, default: ['server', 'trainer'] },
    'build-arg': { type: 'string', multiple: true, default: [] },
    keep: { type: 'boolean', default: false },
  },
});
const buildArgs = { ...OFFLINE_ARGS, ...Object.fromEntries(values['build-arg'].map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)])) };

function expand(text, env) {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => env[a ?? b] ?? '');
}

/** Tracked files of the build context, less .dockerignore's entries (simple names and globs). */
function contextFiles() {
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const patterns = ignore.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`));
  return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter((f) => f && !patterns.some((p) => p.test(f)));
}

function copyFromContext(sources, dest, app, files) {
  for (const source of sources) {
    const prefix = source === '.' || source === './' ? '' : source.replace(/\/$/, '');
    const matched = files.filter((f) => f === prefix || prefix === '' || f.startsWith(`${prefix}/`));
    if (matched.length === 0) throw new Error(`COPY ${source}: nothing in the build context`);
    for (const file of matched) {
      // COPY <dir> <dest>/ puts the directory's contents in dest; COPY <file> ./ keeps its name.
      const relative = file === prefix ? file.split('/').at(-1) : prefix === '' ? file : file.slice(prefix.length + 1);
      const target = join(app, dest === '.' || dest === './' ? '' : dest, relative);
      mkdirSync(dirname(target), { recursive: true });
      cpSync(join(ROOT, file), target);
    }
  }
}

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the ENTRYPOINT + CMD, waits for the HEALTHCHECK, probes keys, stops with SIGTERM. */
async function probeServer(app, env, entrypoint, healthcheck) {
  const key = spawnSync(process.execPath, ['dist/cli.js', 'keys', 'create', '--scopes', 'infer', '--record'], { cwd: app, encoding: 'utf8' });
  if (key.status !== 0) throw new Error(`keys create --record failed: ${key.stderr}`);
  const secret = /^key: +(\S+)/m.exec(key.stdout)[1];
  const record = /^record: +(\S+)/m.exec(key.stdout)[1];
  const port = String(await freePort());
  const runEnv = { ...env, HOST: '127.0.0.1', PORT: port, PROTOSERVE_SERVER_AUTH: 'on', PROTOSERVE_API_KEYS: record };
  const [command, ...args] = entrypoint;
  console.log(`check: ${entrypoint.join(' ')} (HOST=127.0.0.1 PORT=${port} PROTOSERVE_SERVER_AUTH=on PROTOSERVE_API_KEYS=<1 record>)`);
  const child = spawn(command === 'node' ? process.execPath : command, args, { cwd: app, env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const started = Date.now();
    let healthy = false;
    while (!healthy && Date.now() - started < 120_000 && child.exitCode === null) {
      const [hc, ...hcArgs] = healthcheck;
      healthy = spawnSync(hc === 'node' ? process.execPath : hc, hcArgs, { cwd: app, env: runEnv }).status === 0;
      if (!healthy) await sleep(500);
    }
    if (!healthy) throw new Error(`the HEALTHCHECK (${healthcheck.join(' ')}) never passed; server output:\n${output}`);
    console.log(`check: HEALTHCHECK passed after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const url = `http://127.0.0.1:${port}/v1/models`;
    const anonymous = await fetch(url);
    const withKey = await fetch(url, { headers: { Authorization: `Bearer ${secret}` } });
    const models = (await withKey.json()).models ?? [];
    if (anonymous.status !== 401 || withKey.status !== 200 || models.length === 0) throw new Error(`GET /v1/models: ${anonymous.status} without a key (401 expected), ${withKey.status} with one (200 expected), ${models.length} models`);
    console.log(`check: GET /v1/models 401 without a key, 200 with one: ${models.map((m) => `${m.name} on ${m.executionProvider}`).join(', ')}`);
    child.kill('SIGTERM');
    const { code } = await exited;
    if (code !== 0) throw new Error(`SIGTERM: the server exited with ${code}; output:\n${output}`);
    console.log('check: SIGTERM, the server closed and exited 0');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

async function checkTarget(target, text) {
  const { stages, globalArgs } = readStages(text);
  const chain = stageChain(stages, target);
  const app = mkdtempSync(join(tmpdir(), `protoserve-docker-${target}-`));
  const files = contextFiles();
  const env = { ...process.env, PROTOSERVE_DOCKER_CHECK: '1' };
  let entrypoint;
  let cmd = [];
  let healthcheck;
  console.log(`check: target ${target}: stages ${chain.map((s) => s.name).join(' -> ')} in ${app}`);
  console.log(`check: build args ${Object.entries(buildArgs).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const node = process.versions.node.split('.')[0];
  if (node !== '20') throw new Error(`Node.js ${process.versions.node} stands for node:20 here; use Node 20`);
  const t0 = Date.now();
  try {
    for (const stage of chain) {
      const args = { ...globalArgs };
      for (const i of stage.instructions) {
        const where = `Dockerfile:${i.line} ${i.keyword} ${i.content}`;
        if (i.keyword === 'ARG') {
          for (const [k, v] of Object.entries(parseAssignments(i.args))) args[k] = buildArgs[k] ?? v ?? args[k];
        } else if (i.keyword === 'ENV') {
          for (const [k, v] of Object.entries(parseAssignments(i.args))) env[k] = expand(v ?? '', { ...env, ...args });
        } else if (i.keyword === 'COPY') {
          if (i.flags.from) {
            console.log(`check: ${where}: outside Docker, this folder (and this machine's Node.js 20) stands for stage ${i.flags.from}`);
            continue;
          }
          const paths = i.args.filter((a) => !a.startsWith('--'));
          copyFromContext(paths.slice(0, -1), paths.at(-1), app, files);
        } else if (i.keyword === 'RUN') {
          if (!/^scripts\/docker\/[\w.-]+$/.test(i.content.trim())) throw new Error(`${where}: every RUN must be one script under scripts/docker/ (so this check runs the same commands)`);
          console.log(`check: ${where}`);
          const started = Date.now();
          const run = spawnSync('bash', [i.content.trim()], { cwd: app, env: { ...env, ...args }, stdio: 'inherit' });
          if (run.status !== 0) throw new Error(`${where} failed with exit status ${run.status}`);
          console.log(`check: ${i.content.trim()} passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
        } else if (i.keyword === 'ENTRYPOINT') {
          entrypoint = JSON.parse(i.content);
        } else if (i.keyword === 'CMD') {
          cmd = JSON.parse(i.content);
        } else if (i.keyword === 'HEALTHCHECK') {
          healthcheck = JSON.parse(i.content.slice(i.content.indexOf('CMD') + 3).trim());
        }
      }
    }
    if (target === 'server') await probeServer(app, env, [...entrypoint, ...cmd], healthcheck);
    else {
      const run = spawnSync(process.execPath, [...entrypoint.slice(1), ...cmd], { cwd: app, env, encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`${[...entrypoint, ...cmd].join(' ')} failed: ${run.stderr}`);
      console.log(`check: ${[...entrypoint, ...cmd].join(' ')} ran`);
    }
    console.log(`check: target ${target} passed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    if (values.keep) console.log(`check: kept ${app}`);
    else rmSync(app, { recursive: true, force: true });
  }
}

const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
for (const target of values.target) {
  try {
    await checkTarget(target, text);
  } catch (err) {
    console.error(`check-outside-docker: target ${target}: ${err.message}`);
    process.exit(1);
  }
}
