// The Dockerfile as the issue asks for it, read with dockerfile-ast: a server target on a CUDA 12
// runtime with onnxruntime-node's CUDA 12 files and faiss, a trainer target on CUDA 11 + cuDNN 8
// with tfjs-node-gpu, non-root users, a healthcheck, models and galleries as volumes; and every
// RUN a script under scripts/docker/ that check-outside-docker.mjs runs in the same order (CI
// runs that check through .ci/run; it takes minutes, so npm test only checks its wiring).
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { readStages, stageChain, type DockerStage } from '../../scripts/docker/dockerfile-stages.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const { stages, globalArgs } = readStages(read('Dockerfile'));
const stage = (name: string) => stages.find((s) => s.name === name) as DockerStage;
const all = (chain: DockerStage[], keyword: string) => chain.flatMap((s) => s.instructions.filter((i) => i.keyword === keyword));

test('two targets, server and trainer, on the CUDA images the issue names', () => {
  assert.ok(stage('server') && stage('trainer'), stages.map((s) => s.name).join(', '));
  assert.equal(stage('server').from, '${SERVER_BASE}');
  assert.match(String(globalArgs.SERVER_BASE), /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu/);
  assert.equal(stage('trainer').from, '${TRAINER_BASE}');
  assert.match(String(globalArgs.TRAINER_BASE), /^nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-ubuntu/);
});

test('the server build installs onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 and builds faiss-node', () => {
  const chain = stageChain(stages, 'server');
  const args = Object.assign({}, ...all(chain, 'ARG').map((i) => Object.fromEntries(i.args.map((a) => a.split('=')))));
  assert.equal(args.ORT_INSTALL, 'cuda12');
  assert.ok(all(chain, 'ENV').some((i) => i.args.includes('ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL}')));
  assert.ok(all(chain, 'RUN').some((i) => i.content === 'scripts/docker/build-server.sh'));
  assert.match(read('scripts/docker/build-server.sh'), /^npm ci /m);
  assert.equal(JSON.parse(read('package.json')).scripts.postinstall, 'node scripts/setup/build-faiss-node.mjs');
});

test('the trainer adds @tensorflow/tfjs-node-gpu at the version of @tensorflow/tfjs', () => {
  assert.ok(all(stageChain(stages, 'trainer'), 'RUN').some((i) => i.content === 'scripts/docker/build-trainer.sh'));
  assert.match(read('scripts/docker/build-trainer.sh'), /npm install --no-save .*"@tensorflow\/tfjs-node-gpu@\$\{version\}"/);
  assert.match(read('scripts/docker/build-trainer.sh'), /npm rebuild @tensorflow\/tfjs-node-gpu/);
});

test('both images run as a non-root user, with volumes; the server has a healthcheck', () => {
  for (const name of ['server', 'trainer']) {
    const user = all([stage(name)], 'USER').at(-1);
    assert.ok(user && !['root', '0'].includes(user.args[0]), `${name}: USER ${user?.args[0]}`);
    assert.ok(all([stage(name)], 'RUN').some((i) => i.content === 'scripts/docker/runtime-user.sh'));
    assert.ok(all([stage(name)], 'VOLUME').some((i) => i.content.includes('"/app/models"')), name);
  }
  assert.ok(all([stage('server')], 'VOLUME').some((i) => i.content.includes('"/app/galleries"')));
  const health = all([stage('server')], 'HEALTHCHECK')[0];
  assert.match(health.content, /CMD \["node", "scripts\/docker\/healthcheck\.mjs"\]/);
  assert.match(read('scripts/docker/healthcheck.mjs'), /\/v2\/health\/ready/);
});

test('every RUN is one executable script under scripts/docker/, and CI runs them outside Docker', () => {
  for (const run of all(stages, 'RUN')) {
    assert.match(run.content, /^scripts\/docker\/[\w.-]+$/, `Dockerfile:${run.line}`);
    accessSync(join(ROOT, run.content), constants.X_OK);
  }
  assert.match(read('.ci/run'), /node scripts\/docker\/check-outside-docker\.mjs/);
  assert.match(read('README.md'), /scripts\/docker\/check-outside-docker\.mjs/);
});
