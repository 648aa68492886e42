// `protoserve gallery`: build and move galleries offline, in the same galleries folder the server
// serves (not while a server holds it: the folder is locked by one process at a time).
//   create <name> --model M      an empty gallery bound to an embedder of --models
//   enroll <name> <folder>       root/<identity>/*.jpg (photos or aligned crops), with a progress bar
//   export <name> <file>         every identity with its faces' embeddings, in one file
//   import <file> [--name N]     an export, or a trainer's gallery seed (gallery-seed.ts)
//   list                         galleries, their model and size
import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import type { Manifest } from '../artifact/manifest.js';
import { listArtifacts } from '../artifact/registry.js';
import { messageOf } from '../errors.js';
import { alignedFaces, type FaceFinder } from '../infer/aligned-faces.js';
import { decodeImage } from '../infer/preprocess.js';
import { describeProvider } from '../infer/create-session.js';
import { withArticle } from '../infer/task-words.js';
import { FaceDetector } from '../infer/face-detection/face-detector.js';
import { ModelSession } from '../infer/model-session.js';
import { detectPhotoFaces } from '../infer/photo-faces.js';
import { Progress, formatDuration } from '../progress.js';
import { Galleries } from './gallery-registry.js';
import { GalleryError } from './gallery-error.js';
import { GALLERY_FORMAT, GALLERY_FORMAT_VERSION, readSnapshot, type GalleryMeta, type GalleryModel } from './gallery.js';
import { readSeed, seedState } from './gallery-seed.js';
import { parseIndexSpec } from './gallery-store.js';

const HELP = `Usage: protoserve gallery <command> [options]

Builds galleries offline, in the folder the server serves (--galleries, default ./galleries;
stop the server first, or use its HTTP API: the folder is held by one process at a time).

Commands:
  create <name> --model NAME [--index exact|ivf|hnsw]
                               an empty gallery bound to the embedder NAME of --models
  enroll <name> <folder>       enrol <folder>/<identity>/*.jpg|png|webp, creating identities as
                               needed: photos (the largest face each, found by the detector) or
                               aligned crops (--input, default the embedder's manifest face.input)
  export <name> <file>         write every identity, its metadata and faces (with embeddings)
  import <file> [--name NAME]  create a gallery from an export, or from a trainer's gallery seed
                               (identity -> prototype: protoserve export --gallery-seed)
  list                         the galleries, their model, identities and faces

Options:
  --galleries DIR     galleries folder (default $GALLERIES or ./galleries)
  --models DIR        models folder (default ./models)
  --model NAME        the embedder (create; import of a seed checks it against the seed's sha256)
  --index KIND        exact (default) | ivf | hnsw
  --input KIND        enroll: photo | aligned (default: the embedder's face.input, else aligned)
  --detector NAME     enroll photos: the detector of --models (default: the embedder's face.detector,
                      else the only detector there)
  --device NAME       enroll: auto | cpu | cuda | webgpu (default auto)
  --batch-size N      enroll: faces per inference (default 32)
  -h, --help`;

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff']);

export interface GalleryIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTTY?: boolean;
}

const PROCESS_IO: GalleryIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), isTTY: Boolean(process.stderr.isTTY) };

function usage(message: string): never {
  throw new GalleryError('INVALID_PARAMETER', `gallery: ${message} (see protoserve gallery --help)`);
}

export async function galleryCommand(argv: string[], io: GalleryIo = PROCESS_IO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        galleries: { type: 'string' },
        models: { type: 'string' },
        model: { type: 'string' },
        index: { type: 'string' },
        name: { type: 'string' },
        device: { type: 'string' },
        input: { type: 'string' },
        detector: { type: 'string' },
        'batch-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    usage(messageOf(err));
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || !command) {
    io.stdout(`${HELP}\n`);
    return command || values.help ? 0 : 1;
  }
  const want = (n: number, what: string) => {
    if (args.length !== n) usage(`${command} takes ${what}`);
  };
  const galleriesDir = values.galleries ?? process.env.GALLERIES ?? 'galleries';
  const modelsDir = values.models ?? 'models';
  switch (command) {
    case 'create':
      want(1, '<name> --model NAME');
      if (!values.model) usage('create needs --model NAME (an embedder of --models)');
      return withGalleries(galleriesDir, async (g) => {
        const manifest = await findManifest(modelsDir, values.model as string);
        const gallery = await g.create(newMeta(args[0], manifest, parseIndexSpec(values.index)));
        io.stderr(`gallery ${gallery.name} created in ${g.dir}: model ${manifest.name} ${manifest.version}, index ${JSON.stringify(gallery.meta.index)}\n`);
        return 0;
      });
    case 'enroll':
      want(2, '<name> <folder>');
      return withGalleries(galleriesDir, (g) => enroll(g, args[0], args[1], modelsDir, values, io));
    case 'export':
      want(2, '<name> <file>');
      return withGalleries(galleriesDir, async (g) => {
        const gallery = g.get(args[0]);
        const bytes = await gallery.exportTo(resolve(args[1]));
        io.stderr(`gallery ${gallery.name}: ${gallery.identityCount} identities, ${gallery.faceCount} faces -> ${args[1]} (${(bytes / 1e6).toFixed(1)} MB)\n`);
        return 0;
      });
    case 'import':
      want(1, '<file> [--name NAME]');
      return withGalleries(galleriesDir, (g) => importFile(g, resolve(args[0]), modelsDir, values, io));
    case 'list':
      want(0, 'no arguments');
      return withGalleries(galleriesDir, async (g) => {
        for (const gallery of g.list()) {
          const m = gallery.meta.model;
          io.stdout(`${gallery.name}\tmodel ${m.name} ${m.version} (${m.sha256.slice(0, 12)})\t${gallery.meta.index.kind}\t${gallery.identityCount} identities\t${gallery.faceCount} faces\n`);
        }
        for (const u of g.unavailable()) io.stdout(`${u.name}\tunavailable: ${u.code}: ${u.message}\n`);
        return 0;
      });
    default:
      return usage(`unknown command "${command}". Should be one of: create, enroll, export, import, list`);
  }
}

async function withGalleries(dir: string, run: (g: Galleries) => Promise<number>): Promise<number> {
  const galleries = await Galleries.open(dir);
  try {
    return await run(galleries);
  } finally {
    await galleries.close();
  }
}

async function findManifest(modelsDir: string, name: string): Promise<Manifest> {
  const listing = await listArtifacts(modelsDir);
  const found = listing.artifacts.find((a) => a.manifest.name === name);
  if (!found) {
    const names = listing.artifacts.map((a) => a.manifest.name);
    throw new GalleryError('INVALID_PARAMETER', `no model "${name}" in ${listing.modelsDir} (models: ${names.length ? names.join(', ') : 'none'})`);
  }
  if (found.manifest.task !== 'embedder') throw new GalleryError('INVALID_PARAMETER', `model "${name}" is ${withArticle(found.manifest.task)}; a gallery needs an embedder`);
  return found.manifest;
}

function galleryModel(m: Manifest): GalleryModel {
  return { name: m.name, version: m.version, sha256: m.sha256, dimension: m.output.dimension };
}

function newMeta(name: string, manifest: Manifest, index: GalleryMeta['index'], metadata: GalleryMeta['metadata'] = {}): GalleryMeta {
  return { format: GALLERY_FORMAT, version: GALLERY_FORMAT_VERSION, name, model: galleryModel(manifest), index, created: new Date().toISOString(), metadata };
}

/** A text bar for the progress line: [#######.......] 45%. */
function bar(done: number, total: number, width = 24): string {
  const share = total > 0 ? Math.min(1, done / total) : 1;
  const full = Math.round(share * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(share * 100).toFixed(0).padStart(3)}%`;
}

interface EnrollValues {
  device?: string;
  input?: string;
  detector?: string;
  'batch-size'?: string;
}

async function enroll(galleries: Galleries, name: string, folder: string, modelsDir: string, values: EnrollValues, io: GalleryIo): Promise<number> {
  const started = performance.now();
  const gallery = galleries.get(name);
  const root = resolve(folder);
  const batchSize = values['batch-size'] === undefined ? 32 : Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) usage(`--batch-size: expected a positive integer, got "${values['batch-size']}"`);
  // The folder: <identity>/<image>, identities and images in name order.
  const plan: Array<{ identity: string; files: string[] }> = [];
  for (const entry of (await readdir(root)).sort()) {
    if (entry.startsWith('.') || !(await stat(join(root, entry))).isDirectory()) continue;
    const files = (await readdir(join(root, entry))).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
    if (files.length > 0) plan.push({ identity: entry, files: files.map((f) => join(root, entry, f)) });
  }
  const total = plan.reduce((n, p) => n + p.files.length, 0);
  if (total === 0) usage(`no images in ${root}/<identity>/ (expected ${[...IMAGE_EXTENSIONS].join(', ')} files)`);

  // The gallery's model, exactly (sha256), from the models folder.
  const listing = await listArtifacts(modelsDir);
  const artifact = listing.artifacts.find((a) => a.manifest.name === gallery.meta.model.name);
  if (!artifact) throw new GalleryError('GALLERY_UNAVAILABLE', `gallery ${name} needs model "${gallery.meta.model.name}", which is not in ${listing.modelsDir}`);
  if (artifact.manifest.sha256 !== gallery.meta.model.sha256) {
    throw new GalleryError('MODEL_MISMATCH', `gallery ${name} was built with ${gallery.meta.model.name} sha256 ${gallery.meta.model.sha256.slice(0, 12)}..., ${listing.modelsDir} has sha256 ${artifact.manifest.sha256.slice(0, 12)}...: embeddings would not be comparable`);
  }
  const kind = values.input ?? artifact.manifest.face?.input ?? 'aligned';
  if (kind !== 'photo' && kind !== 'aligned') usage(`--input: expected photo or aligned, got "${kind}"`);
  const { input, face } = artifact.manifest;
  let detectorArtifact: (typeof listing.artifacts)[number] | undefined;
  if (kind === 'photo') {
    const named = values.detector ?? face?.detector;
    const detectors = listing.artifacts.filter((a) => a.manifest.task === 'detector' && (named === undefined || a.manifest.name === named));
    if (detectors.length !== 1) {
      usage(named ? `no detector "${named}" in ${listing.modelsDir}` : `enrolling photos needs a detector: ${detectors.length} in ${listing.modelsDir}; name one with --detector, or use --input aligned`);
    }
    if (input.width !== input.height) usage(`photos are aligned onto square crops; ${artifact.manifest.name} takes ${input.width}x${input.height}`);
    detectorArtifact = detectors[0];
  }
  const device = values.device ?? 'auto';
  const session = await ModelSession.create(artifact, { device });
  const finder: FaceFinder = { decode: (b) => decodeImage(b), largestOnly: true };
  let detector: FaceDetector<ModelSession> | undefined;
  if (detectorArtifact) {
    const found = (detector = new FaceDetector(await ModelSession.create(detectorArtifact, { device })));
    finder.detect = async (bytes) => ({ detector: found.name, ...(await detectPhotoFaces(bytes, found, { size: input.width, templateScale: face?.templateScale })) });
  }
  io.stderr(
    `enrolling ${total} images of ${plan.length} identities from ${root} into ${name} with ${session.name} on ${describeProvider(session)}` +
      `${detector ? `, faces found by ${detector.name}` : ', as aligned crops'}\n`,
  );
  const progress = new Progress({ unit: 'img', total, write: io.stderr, isTTY: io.isTTY ?? false });
  const skipped: string[] = [];
  let enrolled = 0;
  let created = 0;
  let done = 0;
  try {
    for (const { identity, files } of plan) {
      for (let start = 0; start < files.length; start += batchSize) {
        const chunk = files.slice(start, start + batchSize);
        const faces: Array<{ tensor: Float32Array; sha256: string; image: number }> = [];
        for (const [i, file] of chunk.entries()) {
          try {
            const bytes = await readFile(file);
            const [face] = await alignedFaces([{ bytes }], session.manifest.input, finder);
            faces.push({ tensor: face.tensor, sha256: createHash('sha256').update(bytes).digest('hex'), image: start + i });
          } catch (err) {
            skipped.push(`${file}: ${messageOf(err)}`);
          }
        }
        if (faces.length > 0) {
          const batch = new Float32Array(faces.length * session.itemSize);
          faces.forEach((f, i) => batch.set(f.tensor, i * session.itemSize));
          const embeddings = await session.embed(batch, faces.length);
          if (!gallery.has(identity)) {
            await gallery.createIdentity(identity, { source: 'protoserve gallery enroll' });
            created++;
          }
          await gallery.addFaces(identity, faces.map((f, i) => ({ embedding: embeddings[i], source: { sha256: f.sha256, image: f.image, face: 0 } })));
          enrolled += faces.length;
        }
        done += chunk.length;
        progress.tick(chunk.length, `${name} ${bar(done, total)}`);
      }
    }
    progress.tick(0, `${name} ${bar(done, total)}`, true);
    progress.finish();
  } finally {
    await session.release();
    await detector?.session.release();
  }
  io.stderr(
    `enrolled ${enrolled} faces into ${plan.length} identities (${created} new) of ${name} in ${formatDuration((performance.now() - started) / 1000)}; ` +
      `gallery: ${gallery.identityCount} identities, ${gallery.faceCount} faces\n`,
  );
  if (skipped.length > 0) io.stderr(`skipped ${skipped.length} images:\n${skipped.map((s) => `  ${s}`).join('\n')}\n`);
  return skipped.length > 0 ? 2 : 0;
}

async function importFile(galleries: Galleries, path: string, modelsDir: string, values: { name?: string; model?: string; index?: string }, io: GalleryIo): Promise<number> {
  const magic = Buffer.alloc(4);
  const fh = await open(path, 'r').catch((err: Error) => usage(`cannot read ${path}: ${err.message}`));
  await fh.read(magic, 0, 4, 0);
  await fh.close();
  if (magic.toString('latin1') === 'PGR1') {
    // An export (a snapshot of another gallery folder).
    const snap = await readSnapshot(path, values.name ?? 'import');
    if (!snap) throw new GalleryError('GALLERY_FILE_INVALID', `${path} is incomplete (no end mark): was its export interrupted?`);
    const listing = await listArtifacts(modelsDir);
    const served = listing.artifacts.find((a) => a.manifest.name === snap.meta.model.name);
    if (served && served.manifest.sha256 !== snap.meta.model.sha256) {
      throw new GalleryError('MODEL_MISMATCH', `${path} holds embeddings of ${snap.meta.model.name} sha256 ${snap.meta.model.sha256.slice(0, 12)}...; ${listing.modelsDir} has sha256 ${served.manifest.sha256.slice(0, 12)}...`);
    }
    if (!served) io.stderr(`warning: model ${snap.meta.model.name} is not in ${listing.modelsDir}; the server answers this gallery's face requests once it serves that model\n`);
    const meta: GalleryMeta = { ...snap.meta, name: values.name ?? snap.meta.name, ...(values.index ? { index: parseIndexSpec(values.index) } : {}) };
    const gallery = await galleries.create(meta, snap.state);
    io.stderr(`imported gallery ${gallery.name}: ${gallery.identityCount} identities, ${gallery.faceCount} faces (model ${meta.model.name})\n`);
    return 0;
  }
  // A trainer's seed: identity -> prototype.
  const seed = readSeed(path);
  const { model, dimension } = seed.header;
  const manifest = await findManifest(modelsDir, values.model ?? model.name);
  if (manifest.sha256 !== model.sha256 || manifest.output.dimension !== dimension) {
    throw new GalleryError(
      'MODEL_MISMATCH',
      `${path} holds prototypes of ${model.name} sha256 ${model.sha256.slice(0, 12)}... (dimension ${dimension}); ` +
        `${manifest.name} in ${modelsDir} is sha256 ${manifest.sha256.slice(0, 12)}... (dimension ${manifest.output.dimension}): not comparable`,
    );
  }
  if (!values.name) usage('importing a seed needs --name NAME for the new gallery');
  const name = values.name as string;
  const gallery = await galleries.create(newMeta(name, manifest, parseIndexSpec(values.index), { seed: { file: path, kind: seed.header.kind, run: seed.header.run } }), seedState(seed, name));
  io.stderr(`imported seed ${path} as gallery ${gallery.name}: ${gallery.identityCount} identities (model ${manifest.name} ${manifest.version})\n`);
  return 0;
}
