// The CLI dispatcher itself, run as a user runs it: no arguments, an unknown command, --help of
// the tool and of every command, and the exit status of each class of failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { writeIjbc } from '../scripts/fixtures/make-face-benchmarks.js';
import { colorEmbedder, tempDir, writeModels } from './infer/tiny-models.js';

const root = new URL('..', import.meta.url).pathname;
const COMMANDS = ['train', 'export', 'serve', 'eval', 'models'];

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli.ts'), ...args], { cwd: root, env: { ...process.env, PROTOSERVE_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('protoserve', () => {
  test('no arguments: UNKNOWN_COMMAND and the usage on stderr, exit 2', async () => {
    const r = await cli([]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^UNKNOWN_COMMAND: /);
    assert.match(r.stderr, /Usage: protoserve <command>/);
  });

  test('an unknown command: UNKNOWN_COMMAND naming the commands, exit 2', async () => {
    const r = await cli(['fly']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^UNKNOWN_COMMAND: .*"fly"/);
    for (const c of COMMANDS) assert.ok(r.stderr.includes(c), c);
  });

  test('--help: every command and the exit-status table on stdout, exit 0', async () => {
    for (const flag of ['--help']) {
      const r = await cli([flag]);
      assert.equal(r.status, 0, flag);
      for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), `${flag}: ${c}`);
      for (const [status, cls] of [[0, 'success'], [1, 'internal'], [2, 'usage'], [3, 'not-found'], [4, 'invalid-input'], [5, 'unavailable'], [6, 'check-failed']]) {
        assert.match(r.stdout, new RegExp(`^  ${status}  ${cls}`, 'm'), `${flag}: exit ${status}`);
      }
    }
  });

  for (const c of COMMANDS) {
    test(`${c} --help prints its usage on stdout, exit 0`, async () => {
      const r = await cli([c, '--help']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Usage:\\s+protoserve ${c}\\b`));
    });
  }
});

describe('exit status per class, with CODE: message on stderr', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('protoserve-cli-');
  });
  after(() => tmp.cleanup());

  test('usage (2): an unknown option, a missing required one', async () => {
    const unknown = await cli(['eval', 'lfw', '--data', tmp.dir, '--features', tmp.dir, '--bogus']);
    assert.deepEqual([unknown.status, unknown.stderr.split(':')[0]], [2, 'EVAL_USAGE']);
    const missing = await cli(['models', 'import', 'x.onnx', '--task', 'embedder']);
    assert.deepEqual([missing.status, missing.stderr.split(':')[0]], [2, 'INVALID_ARGUMENT']);
  });

  test('not-found (3): a dataset file, a models folder', async () => {
    const data = await cli(['eval', 'lfw', '--data', join(tmp.dir, 'nowhere'), '--features', tmp.dir]);
    assert.equal(data.status, 3);
    assert.match(data.stderr, /^DATASET_FILE_MISSING: /m);
    const models = await cli(['models', '--models', join(tmp.dir, 'no-models')]);
    assert.equal(models.status, 3);
    assert.match(models.stderr, /^MODELS_DIR_NOT_FOUND: /m);
  });

  test('invalid-input (4): a malformed dataset file', async () => {
    const data = join(tmp.dir, 'lfw-bad');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'pairs.txt'), '10\t300\nAbel\t1\n');
    const r = await cli(['eval', 'lfw', '--data', data, '--features', tmp.dir]);
    assert.equal(r.status, 4);
    assert.match(r.stderr, /^DATASET_FORMAT: /m);
  });

  test('check-failed (6): a metric the data cannot give (no impostor pair)', async () => {
    const data = join(tmp.dir, 'ijbc');
    const features = join(tmp.dir, 'ijbc-features');
    await writeIjbc(data, features, { images: false });
    await writeFile(join(data, 'meta', 'ijbc_template_pair_label.txt'), '1 2 1\n3 4 1\n');
    const r = await cli(['eval', 'ijbc', '--data', data, '--features', features, '--out', join(tmp.dir, 'out')]);
    assert.equal(r.status, 6);
    assert.match(r.stderr, /^METRIC_UNDEFINED: /m);
  });

  test('train and export: usage (2), not-found (3) and invalid-input (4) with their codes', async () => {
    const objective = await cli(['train', '--objective', 'nope', '--out', join(tmp.dir, 'run-a')]);
    assert.deepEqual([objective.status, objective.stderr.split(':')[0]], [2, 'UNKNOWN_OBJECTIVE']);
    const lr = await cli(['train', '--momentum', '1.5', '--out', join(tmp.dir, 'run-b')]);
    assert.deepEqual([lr.status, lr.stderr.split(':')[0]], [2, 'TRAIN_CONFIG_INVALID']);
    const both = await cli(['train', '--data', tmp.dir, '--dataset', 'mnist', '--out', join(tmp.dir, 'run-c')]);
    assert.deepEqual([both.status, both.stderr.split(':')[0]], [2, 'TRAIN_USAGE']);
    const faces = await cli(['train', '--task', 'embedder', '--objective', 'epl', '--data', join(tmp.dir, 'no-faces'), '--out', join(tmp.dir, 'run-d')]);
    assert.equal(faces.status, 3, faces.stderr);
    assert.match(faces.stderr, /^TRAINING_DATA_MISSING: /m);
    const noRun = await cli(['export', '--run', join(tmp.dir, 'no-run'), '--name', 'x', '--models', join(tmp.dir, 'out-models')]);
    assert.deepEqual([noRun.status, noRun.stderr.split(':')[0]], [3, 'EXPORT_RUN_NOT_FOUND']);
    const run = join(tmp.dir, 'bad-run');
    await mkdir(run, { recursive: true });
    await writeFile(join(run, 'checkpoint.ckpt'), 'not a checkpoint at all');
    const resume = await cli(['train', '--resume', '--out', run]);
    assert.deepEqual([resume.status, resume.stderr.split(':')[0]], [4, 'CHECKPOINT_INVALID']);
  });

  // Which branch runs depends on this machine: the CUDA provider's library is or is not installed.
  const cudaLibrary = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
  test('unavailable (5): serve --device cuda where the CUDA provider is not installed', { skip: existsSync(cudaLibrary) && 'the CUDA provider is installed here' }, async () => {
    const models = join(tmp.dir, 'models');
    await writeModels(models, [colorEmbedder()]);
    const r = await cli(['serve', '--models', models, '--device', 'cuda', '--port', '0', '--host', '127.0.0.1']);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /^DEVICE_UNAVAILABLE: /m);
  });
});
