// Embedder training end to end: `protoserve train --task embedder --objective epl` on a face set
// in identity folders (the RecordIO fixture's JPEGs), validated on held-out pairs in the LFW
// layout after every epoch, stopped and resumed; `protoserve export` with a gallery seed; the
// artifact served, and /v1/models/{name}/embed equal to the trainer's own embedding of the same
// image. Also: fine-tuning weights (--init-from), and a few steps of MobileFaceNet at 112x112.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import request from 'supertest';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { readGallerySeed } from '../../src/export/gallery-seed.js';
import { exportCommand } from '../../src/export/export-command.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { createApp } from '../../src/server/app.js';
import { buildModels } from '../../src/train/build-net.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { decodeImage } from '../../src/train/data/decode-image.js';
import { initializeBackbone } from '../../src/train/init-from.js';
import type { RunState } from '../../src/train/loop.js';
import { buildBackbone } from '../../src/train/nets/registry.js';
import { trainCommand } from '../../src/train/train-command.js';

const FACES = new URL('../train/data/fixtures/faces/faces/', import.meta.url).pathname;

/** A held-out verification set in the LFW layout, from the fixture's images: 10 pairs, 2 folds. */
function lfwFolder(dir: string): string {
  const files: Record<string, string[]> = { id00: ['0', '1', '2'], id01: ['0'], id02: ['0', '1'] };
  for (const [id, names] of Object.entries(files)) {
    mkdirSync(join(dir, id), { recursive: true });
    names.forEach((n, i) => cpSync(join(FACES, id, `${n}.jpg`), join(dir, id, `${id}_${String(i + 1).padStart(4, '0')}.jpg`)));
  }
  const same = ['id00\t1\t2', 'id00\t2\t3', 'id02\t1\t2', 'id00\t1\t3', 'id02\t2\t1'];
  const different = ['id00\t1\tid01\t1', 'id01\t1\tid02\t1', 'id00\t2\tid02\t2', 'id00\t3\tid01\t1', 'id02\t1\tid00\t1'];
  writeFileSync(join(dir, 'pairs.txt'), ['2\t5', ...same.slice(0, 3), ...different.slice(0, 2), ...same.slice(3), ...different.slice(2)].join('\n'));
  return dir;
}

describe('train embedder -> export with gallery seed -> serve -> embed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protoserve-embedder-'));
  const run = join(dir, 'run');
  const models = join(dir, 'models');
  const seedFile = join(dir, 'seed.bin');
  let session: ModelSession;
  let app: ReturnType<typeof createApp>;
  const trainArgs = [
    '--task', 'embedder', '--objective', 'epl', '--head', 'arcface', '--scale', '16',
    '--data', FACES, '--input-size', '16', '--net', 'resnet8', '--width', '4', '--embedding-dim', '8',
    '--batch-size', '4', '--epochs', '2', '--optimizer', 'sgd', '--lr', '0.05', '--val', '',
    '--out', run,
  ];

  before(async () => {
    trainArgs[trainArgs.indexOf('--val') + 1] = lfwFolder(join(dir, 'lfw'));
    assert.equal(await trainCommand([...trainArgs, '--max-steps', '1']), 0);
    await assert.rejects(trainCommand(['--resume', '--out', run, '--head', 'cosface']), /objectiveOptions\.head cosface differs from the run's arcface/);
    assert.equal(await trainCommand(['--resume', '--out', run]), 0);
    assert.equal(await exportCommand(['--run', run, '--name', 'tiny-face', '--models', models, '--gallery-seed', seedFile]), 0);
    session = await ModelSession.create(await readArtifact(join(models, 'tiny-face')), { device: 'cpu' });
    app = createApp({ models: [session], quiet: true });
  });

  after(async () => {
    await session?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('trained on the face set, validated after every epoch, resumed, and recorded it', async () => {
    const { state } = readCheckpoint<RunState>(join(run, 'checkpoint.ckpt'));
    assert.equal(state.globalStep, 4, '2 epochs of 6 images in batches of 4');
    assert.deepEqual(state.config.faceData, { dir: FACES, format: 'folders', height: 16, width: 16, flip: true, identities: 3, images: 6 });
    assert.equal(state.history.length, 2);
    for (const h of state.history) {
      assert.deepEqual(Object.keys(h.metrics), ['val_accuracy', 'val_accuracy_std', 'val_tar@far=0.001']);
      assert.ok(h.metrics.val_accuracy >= 0 && h.metrics.val_accuracy <= 1);
    }
    const { manifest } = await readArtifact(join(models, 'tiny-face'));
    assert.equal(manifest.task, 'embedder');
    assert.deepEqual(manifest.output, { tensor: manifest.output.tensor, kind: 'embedding', dimension: 8, normalized: true });
    // InsightFace's input convention, from the face data: RGB, (x / 255 - 0.5) / 0.5.
    assert.deepEqual([manifest.input.color, manifest.input.height, manifest.input.scale, manifest.input.mean, manifest.input.std], ['rgb', 16, 1 / 255, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]);
    assert.equal(manifest.labels, undefined);
    assert.equal(manifest.provenance.objective, 'epl');
    assert.ok(manifest.provenance.parity!.relative <= 1e-4);
  });

  it('keeps the training heads out of the graph', async () => {
    const { manifest } = await readArtifact(join(models, 'tiny-face'));
    const onnx = readFileSync(join(models, 'tiny-face', manifest.file));
    for (const name of ['prototypes', 'empirical_prototypes']) assert.equal(onnx.indexOf(Buffer.from(name)), -1, `${name} is not in model.onnx`);
  });

  it('wrote the empirical prototypes as a gallery seed for the exported model', async () => {
    const { header, rows } = readGallerySeed(seedFile);
    const { manifest } = await readArtifact(join(models, 'tiny-face'));
    assert.deepEqual(header.model, { name: 'tiny-face', sha256: manifest.sha256 });
    assert.deepEqual([header.kind, header.dimension, header.identities, header.images], ['empirical', 8, ['id00', 'id01', 'id02'], [3, 1, 2]]);
    assert.deepEqual(rows, readCheckpoint<RunState>(join(run, 'checkpoint.ckpt')).objective.empirical_prototypes.values);
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(Math.hypot(...rows.subarray(i * 8, i * 8 + 8)) - 1) < 1e-5, 'unit rows');
    // The JSON form holds the same.
    const jsonSeed = join(dir, 'seed.json');
    assert.equal(await exportCommand(['--run', run, '--name', 'tiny-face', '--models', models, '--gallery-seed', jsonSeed]), 0);
    assert.deepEqual(readGallerySeed(jsonSeed).rows, rows);
  });

  it('serves /embed equal to the trainer\'s own embedding of the same image', async () => {
    const checkpoint = readCheckpoint<RunState>(join(run, 'checkpoint.ckpt'));
    const { backbone, objective } = buildModels(checkpoint.state.config, { inputShape: [16, 16, 3], classCounts: [3, 1, 2] });
    backbone.setWeights(checkpoint.weights);
    for (const file of ['id00/0.jpg', 'id01/0.jpg', 'id02/1.jpg']) {
      const jpeg = readFileSync(join(FACES, file));
      const res = await request(app).post('/v1/models/tiny-face/embed').attach('image', jpeg, 'face.jpg');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const pixels = await decodeImage(jpeg, { height: 16, width: 16, channels: 3 });
      const expected = tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from(pixels, (v) => (v / 255 - 0.5) / 0.5), [1, 16, 16, 3]);
        const f = backbone.apply(x, false);
        return tf.div(f, tf.norm(f)).dataSync();
      });
      const served: number[] = res.body.embedding;
      assert.equal(served.length, 8);
      served.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 1e-4, `${file}[${k}]: served ${v}, trainer ${expected[k]}`));
    }
    objective.dispose();
    backbone.dispose();
  });

  it('fine-tunes from the run: --init-from loads its backbone, and refuses one that does not fit', () => {
    const checkpoint = readCheckpoint<RunState>(join(run, 'checkpoint.ckpt'));
    const backbone = buildBackbone('resnet8', { inputShape: [16, 16, 3], width: 4, embeddingDim: 8, seed: 9 });
    assert.match(initializeBackbone(backbone, run), /resnet8 after 4 steps of epl/);
    for (const [name, w] of Object.entries(backbone.getWeights())) assert.deepEqual(w.values, checkpoint.weights[name].values, name);
    backbone.dispose();
    const other = buildBackbone('resnet8', { inputShape: [16, 16, 3], width: 8, embeddingDim: 8 });
    assert.throws(() => initializeBackbone(other, join(run, 'checkpoint.ckpt')), /its backbone \(resnet8\) does not fit this run's resnet8: .*shape/);
    other.dispose();
    assert.throws(() => initializeBackbone(buildBackbone('resnet8'), join(models, 'tiny-face')), /needs its graph mapped onto a protoserve backbone's parameters/);
  });
});

describe('MobileFaceNet at 112x112 (smoke)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protoserve-mfn-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains two EPL steps on a face set, batch 2', async () => {
    const args = ['--data', FACES, '--input-size', '112', '--net', 'mobilefacenet', '--head', 'cosface', '--batch-size', '2', '--epochs', '1', '--out', dir];
    assert.equal(await trainCommand([...args, '--max-steps', '2']), 0);
    const { state, weights, objective } = readCheckpoint<RunState>(join(dir, 'checkpoint.ckpt'));
    assert.equal(state.config.objective, 'epl', '--data trains an EPL embedder by default');
    assert.equal(state.config.width, undefined);
    assert.equal(state.globalStep, 2);
    assert.deepEqual(objective.prototypes.shape, [3, 128]);
    assert.ok(Object.values(weights).every((w) => w.values.every(Number.isFinite)), 'finite weights');
    const fresh = buildBackbone('mobilefacenet', { inputShape: [112, 112, 3], seed: 1 });
    const initial = fresh.getWeights();
    fresh.dispose();
    assert.ok(Object.keys(initial).some((n) => initial[n].values.some((v, i) => v !== weights[n].values[i])), 'the backbone trained');
  });
});
