import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ArtifactError, ManifestError } from '../../src/artifact/artifact-error.js';
import type { Manifest } from '../../src/artifact/manifest.js';
import { readArtifact } from '../../src/artifact/read-artifact.js';
import { listArtifacts } from '../../src/artifact/registry.js';
import { updateOperatingPoints } from '../../src/artifact/update-operating-points.js';
import { manifestIssues, validateManifest } from '../../src/artifact/validate-manifest.js';
import { writeArtifact } from '../../src/artifact/write-artifact.js';
import { colorEmbedder, meanIntensityClassifier, tempDir } from '../infer/tiny-models.js';

const classifier = meanIntensityClassifier();
const embedder = colorEmbedder();
const SHA = 'a'.repeat(64);
const goodClassifier = (): Manifest => structuredClone({ ...classifier.manifest, file: 'model.onnx', sha256: SHA });
const goodEmbedder = (): Manifest => structuredClone({ ...embedder.manifest, file: 'model.onnx', sha256: SHA });

/** Validation must fail naming `field`, with a message mentioning `text`. */
function assertInvalid(manifest: unknown, field: string, text?: RegExp): void {
  assert.throws(
    () => validateManifest(manifest),
    (err: unknown) => {
      assert.ok(err instanceof ManifestError, `expected ManifestError, got ${String(err)}`);
      assert.equal(err.code, 'MANIFEST_INVALID');
      const issue = err.issues.find((i) => i.field === field);
      assert.ok(issue, `no issue for ${field}; issues: ${err.issues.map((i) => i.message).join(' | ')}`);
      assert.ok(issue.message.startsWith(`${field}: `));
      assert.ok(err.message.includes(field));
      if (text) assert.match(issue.message, text);
      return true;
    },
  );
}

describe('validateManifest', () => {
  test('accepts a valid classifier and a valid embedder', () => {
    assert.deepEqual(manifestIssues(goodClassifier()), []);
    assert.deepEqual(manifestIssues(goodEmbedder()), []);
    assert.equal(validateManifest(goodClassifier()).name, 'mean-probs');
  });

  test('names the field and shows the bad value', () => {
    const m: any = goodClassifier();
    m.input.height = 'abc';
    assert.throws(() => validateManifest(m), { code: 'MANIFEST_INVALID', message: 'manifest.input.height: expected a positive integer (at most 8192), got "abc"' });
  });

  // [what, mutate, field, message pattern]
  const cases: [string, (m: any) => void, string, RegExp?][] = [
    ['not an object', () => undefined, 'manifest'],
    ['missing schema', (m) => delete m.schema, 'manifest.schema', /missing/],
    ['newer schema', (m) => (m.schema = 2), 'manifest.schema', /got 2/],
    ['missing name', (m) => delete m.name, 'manifest.name', /missing/],
    ['name with a slash', (m) => (m.name = 'a/b'), 'manifest.name'],
    ['empty version', (m) => (m.version = ''), 'manifest.version'],
    ['unknown task', (m) => (m.task = 'segmenter'), 'manifest.task', /"classifier", "embedder"/],
    ['file escaping the folder', (m) => (m.file = '../x.onnx'), 'manifest.file'],
    ['absolute file', (m) => (m.file = '/etc/passwd'), 'manifest.file'],
    ['bad sha256', (m) => (m.sha256 = 'XYZ'), 'manifest.sha256'],
    ['missing input', (m) => delete m.input, 'manifest.input', /missing/],
    ['missing input tensor', (m) => delete m.input.tensor, 'manifest.input.tensor'],
    ['bad layout', (m) => (m.input.layout = 'CHW'), 'manifest.input.layout'],
    ['zero width', (m) => (m.input.width = 0), 'manifest.input.width'],
    ['fractional height', (m) => (m.input.height = 2.5), 'manifest.input.height'],
    ['2 channels', (m) => (m.input.channels = 2), 'manifest.input.channels'],
    ['3 channels with gray', (m) => { m.input.channels = 3; m.input.mean = [0, 0, 0]; m.input.std = [1, 1, 1]; }, 'manifest.input.channels', /expected 1 for color "gray"/],
    ['bad color', (m) => (m.input.color = 'hsv'), 'manifest.input.color'],
    ['negative scale', (m) => (m.input.scale = -1), 'manifest.input.scale'],
    ['mean length != channels', (m) => (m.input.mean = [0, 0, 0]), 'manifest.input.mean', /expected 1 value/],
    ['std length != channels', (m) => (m.input.std = []), 'manifest.input.std'],
    ['zero std', (m) => (m.input.std = [0]), 'manifest.input.std[0]', /positive/],
    ['string mean', (m) => (m.input.mean = ['0']), 'manifest.input.mean[0]'],
    ['bad resize', (m) => (m.input.resize = 'crop'), 'manifest.input.resize'],
    ['unknown input field', (m) => (m.input.heigth = 28), 'manifest.input.heigth', /unknown field/],
    ['unknown top-level field', (m) => (m.lables = []), 'manifest.lables', /unknown field/],
    ['missing output', (m) => delete m.output, 'manifest.output'],
    ['missing output tensor', (m) => (m.output.tensor = ''), 'manifest.output.tensor'],
    ['embedding kind on a classifier', (m) => (m.output.kind = 'embedding'), 'manifest.output.kind'],
    ['bad dimension', (m) => (m.output.dimension = -3), 'manifest.output.dimension'],
    ['normalized not boolean', (m) => (m.output.normalized = 'no'), 'manifest.output.normalized'],
    ['classifier without labels', (m) => delete m.labels, 'manifest.labels', /missing/],
    ['labels count != dimension', (m) => (m.labels = ['a', 'b']), 'manifest.labels', /expected 3 labels.*got 2/],
    ['duplicate label', (m) => (m.labels = ['a', 'b', 'a']), 'manifest.labels[2]', /duplicate/],
    ['empty label', (m) => (m.labels = ['a', '', 'c']), 'manifest.labels[1]'],
    ['operating points on a classifier', (m) => (m.operatingPoints = []), 'manifest.operatingPoints'],
    ['missing provenance', (m) => delete m.provenance, 'manifest.provenance'],
    ['imported without licence', (m) => (m.provenance = { imported: true }), 'manifest.provenance.licence', /required/],
    ['metrics not numbers', (m) => (m.provenance.metrics = { accuracy: 'high' }), 'manifest.provenance.metrics.accuracy'],
  ];
  for (const [what, mutate, field, text] of cases) {
    test(`refuses ${what}, naming ${field}`, () => {
      const m = goodClassifier();
      const result = mutate(m);
      assertInvalid(what === 'not an object' ? result : m, field, text);
    });
  }

  const embedderCases: [string, (m: any) => void, string, RegExp?][] = [
    ['probabilities kind on an embedder', (m) => (m.output.kind = 'probabilities'), 'manifest.output.kind'],
    ['labels on an embedder', (m) => (m.labels = ['a', 'b', 'c']), 'manifest.labels'],
    ['unsorted operating points', (m) => (m.operatingPoints = [{ far: 1e-3, threshold: 0.5 }, { far: 1e-4, threshold: 0.6 }]), 'manifest.operatingPoints[1].far', /sorted/],
    ['far out of range', (m) => (m.operatingPoints = [{ far: 0, threshold: 0.5 }]), 'manifest.operatingPoints[0].far'],
    ['threshold out of range', (m) => (m.operatingPoints = [{ far: 0.01, threshold: 1.5 }]), 'manifest.operatingPoints[0].threshold'],
    ['operating points not an array', (m) => (m.operatingPoints = { far: 0.01 }), 'manifest.operatingPoints'],
  ];
  for (const [what, mutate, field, text] of embedderCases) {
    test(`refuses ${what}, naming ${field}`, () => {
      const m = goodEmbedder();
      mutate(m);
      assertInvalid(m, field, text);
    });
  }

  test('lists every problem at once', () => {
    const m: any = goodClassifier();
    m.input.height = 'abc';
    m.output.dimension = 0;
    m.task = 'x';
    const err = (() => {
      try {
        validateManifest(m);
      } catch (e) {
        return e as ManifestError;
      }
    })();
    assert.ok(err instanceof ManifestError);
    assert.deepEqual(err.issues.map((i) => i.field).sort(), ['manifest.input.height', 'manifest.output.dimension', 'manifest.task']);
    assert.match(err.message, /^3 problems in manifest/);
  });
});

describe('writeArtifact / readArtifact', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  test('writes model.onnx and manifest.json with the sha256, and reads them back', async () => {
    const written = await writeArtifact(join(dir, 'a'), { manifest: classifier.manifest, onnxBytes: classifier.bytes });
    assert.equal(written.manifest.file, 'model.onnx');
    assert.match(written.manifest.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual((await readdir(join(dir, 'a'))).sort(), ['manifest.json', 'model.onnx']); // no temp files left
    const loaded = await readArtifact(join(dir, 'a'));
    assert.deepEqual(loaded.manifest, written.manifest);
    assert.ok(Buffer.from(loaded.bytes!).equals(Buffer.from(classifier.bytes)));
    assert.equal(loaded.modelPath, join(dir, 'a', 'model.onnx'));
  });

  test('refuses an invalid manifest before writing anything', async () => {
    await assert.rejects(
      writeArtifact(join(dir, 'bad'), { manifest: { ...classifier.manifest, labels: ['x'] }, onnxBytes: classifier.bytes }),
      { code: 'MANIFEST_INVALID', field: 'manifest.labels' },
    );
    await assert.rejects(readdir(join(dir, 'bad')), { code: 'ENOENT' });
  });

  test('refuses a model file whose hash differs, saying expected and actual', async () => {
    const target = join(dir, 'tampered');
    const { manifest } = await writeArtifact(target, { manifest: classifier.manifest, onnxBytes: classifier.bytes });
    await writeFile(join(target, 'model.onnx'), embedder.bytes);
    await assert.rejects(readArtifact(target), (err: unknown) => {
      assert.ok(err instanceof ArtifactError);
      assert.equal(err.code, 'MODEL_HASH_MISMATCH');
      assert.equal(err.details?.expected, manifest.sha256);
      assert.match(String(err.details?.actual), /^[0-9a-f]{64}$/);
      assert.notEqual(err.details?.actual, manifest.sha256);
      return true;
    });
    // Without verification the same artifact loads (no bytes read).
    const loaded = await readArtifact(target, { verifyHash: false });
    assert.equal(loaded.bytes, undefined);
  });

  test('missing manifest, invalid JSON and missing model file have their own codes', async () => {
    await mkdir(join(dir, 'empty'));
    await assert.rejects(readArtifact(join(dir, 'empty')), { code: 'MANIFEST_NOT_FOUND' });
    await mkdir(join(dir, 'notjson'));
    await writeFile(join(dir, 'notjson', 'manifest.json'), '{ nope');
    await assert.rejects(readArtifact(join(dir, 'notjson')), { code: 'MANIFEST_UNREADABLE', details: { problem: 'not JSON' } });
    await mkdir(join(dir, 'nomodel'));
    await writeFile(join(dir, 'nomodel', 'manifest.json'), JSON.stringify(goodClassifier()));
    await assert.rejects(readArtifact(join(dir, 'nomodel')), { code: 'MODEL_FILE_MISSING' });
  });
});

describe('updateOperatingPoints', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  test('rewrites the manifest with points sorted by FAR, leaving the model untouched', async () => {
    const target = join(dir, 'emb');
    const before = await writeArtifact(target, { manifest: embedder.manifest, onnxBytes: embedder.bytes });
    const points = [
      { far: 1e-2, threshold: 0.3, source: 'test' },
      { far: 1e-6, threshold: 0.7 },
      { far: 1e-4, threshold: 0.5 },
    ];
    const next = await updateOperatingPoints(target, points);
    assert.deepEqual(next.operatingPoints!.map((p) => p.far), [1e-6, 1e-4, 1e-2]);
    const loaded = await readArtifact(target); // hash still matches
    assert.deepEqual(loaded.manifest, next);
    assert.equal(loaded.manifest.sha256, before.manifest.sha256);
    assert.deepEqual((await readdir(target)).sort(), ['manifest.json', 'model.onnx']);
  });

  test('refuses duplicate FARs and classifiers, keeping the file as it was', async () => {
    const target = join(dir, 'emb2');
    await writeArtifact(target, { manifest: embedder.manifest, onnxBytes: embedder.bytes });
    const text = await readFile(join(target, 'manifest.json'), 'utf8');
    await assert.rejects(updateOperatingPoints(target, [{ far: 0.1, threshold: 0.2 }, { far: 0.1, threshold: 0.3 }]), { code: 'MANIFEST_INVALID', field: 'manifest.operatingPoints[1].far' });
    assert.equal(await readFile(join(target, 'manifest.json'), 'utf8'), text);
    const cls = join(dir, 'cls');
    await writeArtifact(cls, { manifest: classifier.manifest, onnxBytes: classifier.bytes });
    await assert.rejects(updateOperatingPoints(cls, [{ far: 0.1, threshold: 0.2 }]), { code: 'MANIFEST_INVALID', field: 'manifest.operatingPoints' });
  });

  test('expectedSha256: writes for the model measured, refuses (file untouched) when the folder holds another', async () => {
    const target = join(dir, 'emb3');
    const written = await writeArtifact(target, { manifest: embedder.manifest, onnxBytes: embedder.bytes });
    const measured = written.manifest.sha256;
    const ok = await updateOperatingPoints(target, [{ far: 1e-3, threshold: 0.4 }], { expectedSha256: measured });
    assert.deepEqual(ok.operatingPoints, [{ far: 1e-3, threshold: 0.4 }]);

    // Another model replaces this one in the folder (same name, other weights).
    const other = colorEmbedder({ normalize: false, name: embedder.manifest.name });
    const replaced = await writeArtifact(target, { manifest: other.manifest, onnxBytes: other.bytes });
    assert.notEqual(replaced.manifest.sha256, measured);
    const text = await readFile(join(target, 'manifest.json'), 'utf8');
    await assert.rejects(updateOperatingPoints(target, [{ far: 1e-3, threshold: 0.9 }], { expectedSha256: measured }), (err: unknown) => {
      assert.ok(err instanceof ArtifactError);
      assert.equal(err.code, 'MODEL_MANIFEST_MISMATCH');
      assert.deepEqual(err.details, { manifestSha256: replaced.manifest.sha256, expectedSha256: measured });
      return true;
    });
    assert.equal(await readFile(join(target, 'manifest.json'), 'utf8'), text);
  });
});

describe('listArtifacts', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  test('returns good artifacts and reports broken ones with their code', async () => {
    await writeArtifact(join(dir, 'good'), { manifest: classifier.manifest, onnxBytes: classifier.bytes });
    await writeArtifact(join(dir, 'emb'), { manifest: embedder.manifest, onnxBytes: embedder.bytes });
    await mkdir(join(dir, 'no-manifest'));
    await mkdir(join(dir, 'bad-manifest'));
    await writeFile(join(dir, 'bad-manifest', 'manifest.json'), JSON.stringify({ ...goodClassifier(), input: { height: 'abc' } }));
    await writeArtifact(join(dir, 'dup1'), { manifest: { ...embedder.manifest, name: 'twin' }, onnxBytes: embedder.bytes });
    await writeArtifact(join(dir, 'dup2'), { manifest: { ...embedder.manifest, name: 'twin' }, onnxBytes: embedder.bytes });
    await mkdir(join(dir, '.hidden'));
    await writeFile(join(dir, 'README.md'), 'not a model');

    const listing = await listArtifacts(dir);
    assert.deepEqual(listing.artifacts.map((a) => a.manifest.name), ['color-embedder', 'mean-probs']);
    const broken = Object.fromEntries(listing.broken.map((b) => [b.dir.slice(dir.length + 1), b.code]));
    assert.deepEqual(broken, {
      'bad-manifest': 'MANIFEST_INVALID',
      dup1: 'DUPLICATE_MODEL_NAME',
      dup2: 'DUPLICATE_MODEL_NAME',
      'no-manifest': 'MANIFEST_NOT_FOUND',
    });
    assert.match(listing.broken.find((b) => b.code === 'MANIFEST_INVALID')!.message, /manifest\.input\.height/);
  });

  test('a missing models folder is an error of its own', async () => {
    await assert.rejects(listArtifacts(join(dir, 'nope')), { code: 'MODELS_DIR_NOT_FOUND' });
  });
});

describe('validateManifest: detectors and face embedders', () => {
  const goodDetector = (): Manifest => structuredClone(JSON.parse(readFileSync('models/blazeface/manifest.json', 'utf8')) as Manifest);

  test('accepts the bundled detector and face embedder', () => {
    assert.deepEqual(manifestIssues(goodDetector()), []);
    assert.deepEqual(manifestIssues(JSON.parse(readFileSync('models/mobileface/manifest.json', 'utf8'))), []);
  });

  const cases: [string, (m: Manifest) => void, string, RegExp?][] = [
    // 896 anchors x (1 + 4 + 2 x 6) = 15232; one keypoint fewer makes it 13440.
    ['an output that does not hold every anchor', (m) => m.detector!.keypoints.pop(), 'manifest.output.dimension', /expected 13440 for 896 anchors x \(score \+ 4 box \+ 2 x 5 keypoints\), got 15232/],
    ['a detector without its decoding', (m) => delete m.detector, 'manifest.detector', /missing/],
    ['an unknown decoder', (m) => ((m.detector as { decoder: string }).decoder = 'yolo'), 'manifest.detector.decoder', /"blazeface"/],
    ['a score threshold of 1', (m) => (m.detector!.scoreThreshold = 1), 'manifest.detector.scoreThreshold', /\(0, 1\)/],
    ['a zero stride', (m) => (m.detector!.anchors[0].stride = 0), 'manifest.detector.anchors[0].stride'],
    ['a detector with embedding output', (m) => (m.output.kind = 'embedding'), 'manifest.output.kind', /"detections" for a detector/],
  ];
  for (const [what, mutate, field, text] of cases) {
    test(`refuses ${what}, naming ${field}`, () => {
      const m = goodDetector();
      mutate(m);
      assertInvalid(m, field, text);
    });
  }

  test('face input belongs to embedders, and says photo or aligned', () => {
    assertInvalid({ ...goodClassifier(), face: { input: 'photo' } }, 'manifest.face', /only face embedders/);
    assertInvalid({ ...goodEmbedder(), face: { input: 'selfie' } }, 'manifest.face.input', /"aligned", "photo"/);
    assertInvalid({ ...goodEmbedder(), face: { input: 'photo', templateScale: 5 } }, 'manifest.face.templateScale');
    assertInvalid({ ...goodEmbedder(), detector: goodDetector().detector }, 'manifest.detector', /only detectors/);
    assert.deepEqual(manifestIssues({ ...goodEmbedder(), face: { input: 'photo', detector: 'blazeface', templateScale: 1 } }), []);
  });
});
