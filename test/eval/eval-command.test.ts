// End to end: `protoserve eval` from images (a small conv embedder artifact) on the generated
// fixtures, then from the saved features, from the cache, and on the hand-worked features.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import sharp from 'sharp';

import { makeFaceBenchmarks, type FaceBenchmarkPaths } from '../../scripts/fixtures/make-face-benchmarks.js';
import type { ManifestDraft } from '../../src/artifact/manifest.js';
import { readManifest } from '../../src/artifact/read-artifact.js';
import { writeArtifact } from '../../src/artifact/write-artifact.js';
import { preprocessingKey } from '../../src/infer/served-pipeline.js';
import { evalCommand } from '../../src/eval/eval-command.js';
import { readFeature } from '../../src/eval/feature-file.js';
import { OnnxGraphBuilder } from '../../src/onnx/onnx-builder.js';
import { mulberry32 } from '../../src/seeded-random.js';
import { colorEmbedder, tempDir } from '../infer/tiny-models.js';

const root = new URL('../..', import.meta.url).pathname;
let tmp: { dir: string; cleanup: () => Promise<void> };
let fx: FaceBenchmarkPaths;
let modelDir: string;

/**
 * A small untrained face embedder: Conv 3->8 (8x8, stride 8) -> Relu -> Flatten -> Gemm -> 32,
 * seeded weights, output NOT normalized (as ArcFace-style ONNX exports), input "input.1".
 */
function tinyFaceEmbedder(): { bytes: Uint8Array; manifest: ManifestDraft } {
  const uniform = mulberry32(2024);
  const rand = () => uniform() - 0.5;
  const g = new OnnxGraphBuilder('tiny-face');
  g.addInput('input.1', ['batch', 3, 112, 112]);
  g.addFloat('conv.weight', [8, 3, 8, 8], Float32Array.from({ length: 8 * 3 * 64 }, () => rand() * 0.2));
  g.addFloat('conv.bias', [8], Float32Array.from({ length: 8 }, () => rand() * 0.1));
  const conv = g.op('Conv', ['input.1', 'conv.weight', 'conv.bias'], { kernel_shape: [8, 8], strides: [8, 8] });
  const flat = g.op('Flatten', [g.op('Relu', [conv])], { axis: 1 });
  g.addFloat('fc.weight', [8 * 14 * 14, 32], Float32Array.from({ length: 8 * 196 * 32 }, () => rand() * 0.1));
  g.addFloat('fc.bias', [32], Float32Array.from({ length: 32 }, () => rand() * 0.01));
  g.op('Gemm', [flat, 'fc.weight', 'fc.bias'], {}, 'embedding');
  g.addOutput('embedding', ['batch', 32]);
  return {
    bytes: g.toBytes(),
    manifest: {
      schema: 1,
      name: 'tiny-face',
      version: '0.0.1',
      task: 'embedder',
      input: { tensor: 'input.1', layout: 'NCHW', height: 112, width: 112, channels: 3, color: 'rgb', scale: 1, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5], resize: 'stretch' },
      output: { tensor: 'embedding', kind: 'embedding', dimension: 32, normalized: false },
      provenance: { objective: 'none (untrained test model)' },
    },
  };
}

before(async () => {
  tmp = await tempDir('protoserve-eval-e2e-');
  fx = await makeFaceBenchmarks(join(tmp.dir, 'fixtures'));
  modelDir = join(tmp.dir, 'models', 'tiny-face');
  const m = tinyFaceEmbedder();
  await writeArtifact(modelDir, { manifest: m.manifest, onnxBytes: m.bytes });
});
after(() => tmp.cleanup());

/** Runs evalCommand in-process; returns the parsed --json line. */
async function evalJson(args: string[]): Promise<Record<string, any>> {
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await evalCommand([...args, '--json', '--workers', '2'], { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
    assert.equal(code, 0);
  } catch (e) {
    process.stderr.write(err.join(''));
    throw e;
  }
  return JSON.parse(out.join('').trim());
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
  return n;
}

test('LFW from images, then from the saved features and from the cache: the same numbers', async () => {
  const saved = join(tmp.dir, 'lfw-saved');
  const cache = join(tmp.dir, 'cache');
  const out = join(tmp.dir, 'out-lfw');
  const fromImages = await evalJson(['lfw', '--data', fx.lfw, '--model', modelDir, '--save-features', saved, '--cache', cache, '--out', out, '--throughput', '--batch-size', '16']);
  const acc = fromImages.lfw.accuracy;
  assert.ok(acc.mean >= 0 && acc.mean <= 100 && acc.std >= 0, JSON.stringify(fromImages));
  assert.deepEqual(Object.keys(fromImages.lfw['val_at_far_1e-3']).sort(), ['far', 'val']);
  assert.equal(fromImages.model.name, 'tiny-face');
  assert.ok(fromImages.throughput.evalImagesPerSecond > 0 && fromImages.throughput.rawImagesPerSecond > 0);
  assert.equal(fromImages.throughput.batchSize, 16);
  // 120 images, one float64 flip-sum feature each, at <name>/<name>_0001.jpg_protoserve.bin
  assert.equal(await countFiles(saved), 120);
  const f = await readFeature(join(saved, 'Same_F0_P0/Same_F0_P0_0001.jpg_protoserve.bin'));
  assert.ok(f instanceof Float64Array && f.length === 32);
  const report = await readFile(join(out, 'report.md'), 'utf8');
  assert.match(report, /\| 10 \| [\d.]+ \| [\d.]+ \|/);
  assert.match(report, /## Throughput/);

  const fromFeatures = await evalJson(['lfw', '--data', fx.lfw, '--features', saved, '--out', join(tmp.dir, 'out-lfw2')]);
  assert.deepEqual(fromFeatures.lfw, fromImages.lfw);
  const fromCache = await evalJson(['lfw', '--data', fx.lfw, '--model', modelDir, '--cache', cache, '--out', join(tmp.dir, 'out-lfw3')]);
  assert.deepEqual(fromCache.lfw, fromImages.lfw);
  const rep = JSON.parse(await readFile(join(tmp.dir, 'out-lfw3', 'report.json'), 'utf8'));
  assert.equal(rep.embedding.cached, 120);
  assert.equal(rep.embedding.computed, 0);
});

test('the flip-summed feature of an aligned image is f(img) + f(mirror), checked with a colour-mean embedder', async () => {
  // colorEmbedder (raw): per-channel mean of (pixel - 127.5) / 127.5, which a mirror does not
  // change, so the saved feature must be twice the mean of the decoded image.
  const m = colorEmbedder({ normalize: false, name: 'colour-raw' });
  const dir = join(tmp.dir, 'models', 'colour-raw');
  await writeArtifact(dir, { manifest: m.manifest, onnxBytes: m.bytes });
  const saved = join(tmp.dir, 'lfw-colour');
  await evalJson(['lfw', '--data', fx.lfw, '--model', dir, '--save-features', saved, '--no-cache', '--out', join(tmp.dir, 'out-colour')]);
  const rel = 'DiffA_F3_P1/DiffA_F3_P1_0001.jpg';
  const { data, info } = await sharp(join(fx.lfw, rel)).raw().toBuffer({ resolveWithObject: true });
  const mean = [0, 1, 2].map((c) => {
    let s = 0;
    for (let p = 0; p < info.width * info.height; p++) s += (data[p * 3 + c] - 127.5) / 127.5;
    return s / (info.width * info.height);
  });
  const f = await readFeature(join(saved, `${rel}_protoserve.bin`));
  f.forEach((v, c) => assert.ok(Math.abs(v - 2 * mean[c]) < 1e-5, `channel ${c}: ${v} vs ${2 * mean[c]}`));
});

test('IJB-C 1:1 and 1:N from aligned loose crops; the saved features give the same tables; --calibrate', async () => {
  const saved = join(tmp.dir, 'ijbc-saved');
  const fromImages = await evalJson(['ijbc', 'ijbc-1n', '--data', fx.ijbc, '--model', modelDir, '--save-features', saved, '--no-cache', '--out', join(tmp.dir, 'out-ijbc'), '--calibrate']);
  assert.deepEqual(Object.keys(fromImages.ijbc.tar_at_far), ['1e-06', '1e-05', '0.0001', '0.001', '0.01', '0.1']);
  assert.deepEqual(Object.keys(fromImages.ijbc_1n).sort(), ['top1', 'top10', 'top5', 'tpir_at_fpir']);
  const fromFeatures = await evalJson(['ijbc', 'ijbc-1n', '--data', fx.ijbc, '--features', saved, '--out', join(tmp.dir, 'out-ijbc2')]);
  assert.deepEqual(fromFeatures.ijbc, fromImages.ijbc);
  assert.deepEqual(fromFeatures.ijbc_1n, fromImages.ijbc_1n);
  // Operating points: FAR 1e-3, 1e-4, 1e-5 from the 10 impostor template pairs (each is the top one).
  const manifest = await readManifest(modelDir);
  assert.deepEqual(manifest.operatingPoints?.map((p) => p.far), [1e-5, 1e-4, 1e-3]);
  assert.match(manifest.operatingPoints?.[0].source ?? '', /IJB-C 1:1 impostor template pairs \(10\)/);
  assert.ok(await stat(join(tmp.dir, 'out-ijbc', 'ijbc-roc.svg')));
});

test('MegaFace from images with JSON landmarks, then from the devkit-layout features', async () => {
  const saved = join(tmp.dir, 'mf-saved');
  const fromImages = await evalJson(['megaface', '--data', fx.megaface, '--model', modelDir, '--save-features', saved, '--no-cache', '--out', join(tmp.dir, 'out-mf')]);
  assert.deepEqual(Object.keys(fromImages.megaface.rank1), ['10', '100']);
  const probe = await readFeature(join(saved, 'facescrub', 'Alice/Alice_1.png_protoserve.bin'));
  assert.ok(probe instanceof Float32Array, 'MegaFace features are written as float32, like the devkit');
  assert.ok(Math.abs(Math.hypot(...probe) - 1) < 1e-5);
  assert.equal(await countFiles(join(saved, 'megaface')), 100);
  const fromFeatures = await evalJson(['megaface', '--data', fx.megaface, '--features', saved, '--out', join(tmp.dir, 'out-mf2')]);
  assert.deepEqual(fromFeatures.megaface, fromImages.megaface);
});

test('the CLI prints the hand-worked numbers as JSON on stdout, progress on stderr', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli.ts'), 'eval', 'ijbc', 'ijbc-1n', '--data', fx.ijbc, '--features', fx.ijbcFeatures, '--json', '--out', join(tmp.dir, 'out-cli')], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    features: fx.ijbcFeatures,
    ijbc: { tar_at_far: { '1e-06': 25, '1e-05': 25, '0.0001': 25, '0.001': 25, '0.01': 25, '0.1': 100 } },
    ijbc_1n: { top1: 75, top5: 100, top10: 100, tpir_at_fpir: { '0.01': 25, '0.1': 25 } },
  });
  assert.match(r.stderr, /IJB-C 1:1 {2}TAR@FAR/);
});

test('the cache key covers the preprocessing: same model bytes, another input.mean -> computed again', async () => {
  const cache = join(tmp.dir, 'cache-prep');
  const m = colorEmbedder({ normalize: false, name: 'colour-prep' });
  const a = join(tmp.dir, 'models', 'colour-prep-a');
  const b = join(tmp.dir, 'models', 'colour-prep-b');
  await writeArtifact(a, { manifest: m.manifest, onnxBytes: m.bytes });
  await writeArtifact(b, { manifest: { ...m.manifest, input: { ...m.manifest.input, mean: [100, 110, 120] } }, onnxBytes: m.bytes });
  const embedding = async (dir: string, out: string) => {
    await evalJson(['lfw', '--data', fx.lfw, '--model', dir, '--cache', cache, '--out', join(tmp.dir, out)]);
    return JSON.parse(await readFile(join(tmp.dir, out, 'report.json'), 'utf8')).embedding as { cached: number; computed: number };
  };
  assert.deepEqual([(await embedding(a, 'out-prep-a')).computed, (await embedding(a, 'out-prep-a2')).cached], [120, 120]);
  const other = await embedding(b, 'out-prep-b');
  assert.deepEqual([other.cached, other.computed], [0, 120]);
  const ma = await readManifest(a);
  const mb = await readManifest(b);
  assert.equal(ma.sha256, mb.sha256);
  assert.notEqual(preprocessingKey(ma), preprocessingKey(mb));
  assert.notEqual(preprocessingKey(ma), preprocessingKey({ ...ma, output: { ...ma.output, tensor: 'other' } }));
});

test('a calibration that fails (the model was replaced during the run) still writes the report, and no thresholds', async () => {
  const m = colorEmbedder({ normalize: false, name: 'colour-swap' });
  const dir = join(tmp.dir, 'models', 'colour-swap');
  await writeArtifact(dir, { manifest: m.manifest, onnxBytes: m.bytes });
  const manifestPath = join(dir, 'manifest.json');
  const out = join(tmp.dir, 'out-swap');
  let swapped = false;
  const stderr = (t: string) => {
    // Once the benchmark runs, another model's manifest takes the folder's place.
    if (!swapped && t.startsWith('eval: LFW')) {
      swapped = true;
      const json = JSON.parse(readFileSync(manifestPath, 'utf8'));
      writeFileSync(manifestPath, JSON.stringify({ ...json, sha256: 'f'.repeat(64), operatingPoints: undefined }));
    }
  };
  await assert.rejects(evalCommand(['lfw', '--data', fx.lfw, '--model', dir, '--no-cache', '--out', out, '--calibrate', '--workers', '2'], { stdout: () => {}, stderr }), {
    code: 'MODEL_MANIFEST_MISMATCH',
  });
  assert.ok(swapped);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  assert.ok(report.lfw, 'the LFW results are in the report');
  assert.ok(report.notes.some((n: string) => /Calibration failed/.test(n)), JSON.stringify(report.notes));
  assert.equal((await readManifest(dir)).operatingPoints, undefined);
});

test('usage errors are EVAL_USAGE naming the option', async () => {
  await assert.rejects(evalCommand(['lfw', '--data', fx.lfw]), { code: 'EVAL_USAGE', details: { option: '--model' } });
  await assert.rejects(evalCommand(['cfp', '--data', fx.lfw, '--features', fx.lfwFeatures]), { code: 'EVAL_USAGE', details: { option: 'benchmark' } });
  await assert.rejects(evalCommand(['lfw', '--data', fx.lfw, '--features', fx.lfwFeatures, '--calibrate']), { code: 'EVAL_USAGE', details: { option: '--calibrate' } });
  await assert.rejects(evalCommand(['lfw', '--data', fx.lfw, '--features', fx.lfwFeatures, '--bogus']), { code: 'EVAL_USAGE', details: { option: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' } });
  await assert.rejects(evalCommand(['lfw', '--data', fx.lfw, '--model', modelDir, '--on-bad-image', 'ignore']), { code: 'EVAL_USAGE', details: { option: '--on-bad-image' } });
  await assert.rejects(evalCommand(['lfw', '--data', fx.lfw, '--model', 'no-such-model', '--models', join(tmp.dir, 'models')]), { code: 'MODEL_NOT_FOUND' });
  // --calibrate without lfw or ijbc is refused before any work (the data folder is not even read).
  for (const b of ['megaface', 'ijbc-1n']) {
    await assert.rejects(evalCommand([b, '--data', join(tmp.dir, 'no-such-data'), '--model', modelDir, '--calibrate']), { code: 'EVAL_USAGE', details: { option: '--calibrate' } });
  }
});

test('a benchmark that fails keeps the reports of those that finished', async () => {
  // LFW runs; MegaFace then finds no template lists in the LFW folder.
  const out = join(tmp.dir, 'out-partial');
  const err: string[] = [];
  await assert.rejects(
    evalCommand(['lfw', 'megaface', '--data', fx.lfw, '--features', fx.lfwFeatures, '--out', out], { stdout: () => {}, stderr: (t) => err.push(t) }),
    { code: 'DATASET_FILE_MISSING' },
  );
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  assert.ok(Math.abs(report.lfw.accuracy.mean - (59 / 60) * 100) < 1e-9); // the hand-worked fixture
  assert.equal(report.megaface, undefined);
  assert.ok(report.notes.some((n: string) => n.startsWith('Stopped in MegaFace: DATASET_FILE_MISSING')), JSON.stringify(report.notes));
  assert.match(await readFile(join(out, 'report.md'), 'utf8'), /## LFW/);
});

test('--on-bad-image skip: LFW leaves out the pairs of skipped images, and the report lists every skipped file', async () => {
  const data = join(tmp.dir, 'lfw-bad');
  await cp(fx.lfw, data, { recursive: true });
  // Same_F0_P0_0001.jpg (a same pair of fold 0) is damaged beyond decoding; DiffB_F2_P1_0001.jpg is gone.
  await writeFile(join(data, 'Same_F0_P0/Same_F0_P0_0001.jpg'), 'not a jpeg');
  await rm(join(data, 'DiffB_F2_P1/DiffB_F2_P1_0001.jpg'));
  const m = colorEmbedder({ normalize: false, name: 'colour-bad' });
  const dir = join(tmp.dir, 'models', 'colour-bad');
  await writeArtifact(dir, { manifest: m.manifest, onnxBytes: m.bytes });
  await assert.rejects(evalCommand(['lfw', '--data', data, '--model', dir, '--no-cache', '--out', join(tmp.dir, 'out-bad-fail'), '--workers', '1'], { stdout: () => {}, stderr: () => {} }), {
    code: /^DATASET_IMAGE_(UNREADABLE|MISSING)$/,
  });
  const out = join(tmp.dir, 'out-bad-skip');
  const result = await evalJson(['lfw', '--data', data, '--model', dir, '--no-cache', '--out', out, '--on-bad-image', 'skip']);
  assert.ok(result.lfw.accuracy.mean >= 0);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report.skipped.map((s: { image: string; code: string }) => [s.image, s.code]).sort(), [
    ['DiffB_F2_P1/DiffB_F2_P1_0001.jpg', 'DATASET_IMAGE_MISSING'],
    ['Same_F0_P0/Same_F0_P0_0001.jpg', 'DATASET_IMAGE_UNREADABLE'],
  ]);
  assert.equal(report.lfw_detail.excluded_pairs, 2);
  assert.equal(report.embedding.computed, 118);
  assert.ok(report.notes.some((n: string) => /LFW: 2 of 60 pairs left out/.test(n)), JSON.stringify(report.notes));
  const md = await readFile(join(out, 'report.md'), 'utf8');
  assert.match(md, /\| Same_F0_P0\/Same_F0_P0_0001\.jpg \| DATASET_IMAGE_UNREADABLE \|/);
});
