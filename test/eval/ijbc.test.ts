import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { IJBC_IMAGES, IJBC_PAIRS, writeIjbc } from '../../scripts/fixtures/make-face-benchmarks.js';
import { FeatureFiles } from '../../src/eval/feature-source.js';
import { loadIjbImages, runIjbVerification, templateFeatures, type IjbImageSet } from '../../src/eval/ijbc.js';
import { runIjbIdentification } from '../../src/eval/ijbc-1n.js';
import { streamTemplatePairs } from '../../src/eval/ijbc-meta.js';
import type { FeatureForm, FeatureMatrix, FeatureSource, ImageRequest } from '../../src/eval/feature-source.js';
import { IJB_FAR_TARGETS, pythonFloatLabel } from '../../src/eval/roc.js';
import { REFERENCE_DIR, assertClose, readReference } from '../fixtures/reference.js';

const dir = await mkdtemp(join(tmpdir(), 'protoserve-ijbc-'));
after(() => rm(dir, { recursive: true, force: true }));
let set: IjbImageSet;
before(async () => {
  await writeIjbc(join(dir, 'ijbc'), join(dir, 'features'), { images: false });
  set = await loadIjbImages(join(dir, 'ijbc'), new FeatureFiles(join(dir, 'features')));
});

const close = (actual: number, expected: number, tol = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} is not ${expected} (+-${tol})`);

test('the pair list streams from bytes: CRLF, blank lines, chunks', async () => {
  const path = join(dir, 'pairs.txt');
  const lines = Array.from({ length: 70000 }, (_, i) => `${i + 1} ${2 * i + 7}\t${i % 2}`);
  await writeFile(path, `${lines.join('\r\n')}\r\n\n`);
  const seen: number[] = [];
  let sum = 0;
  const total = await streamTemplatePairs(path, (c) => {
    seen.push(c.length);
    for (let i = 0; i < c.length; i++) sum += c.t1[i] + c.t2[i] + c.label[i];
  });
  assert.equal(total, 70000);
  assert.deepEqual(seen, [65536, 70000 - 65536]);
  // sum of (i+1) + (2i+7) + (i%2) over i < 70000
  const n = 70000;
  assert.equal(sum, (n * (n + 1)) / 2 + (n * (n - 1) + 7 * n) + n / 2);
  await writeFile(path, '1 2 1\n3 x 0\n');
  await assert.rejects(streamTemplatePairs(path, () => {}), { code: 'DATASET_FORMAT', details: { file: path, line: 2 } });
  await writeFile(path, '1 2 5\n');
  await assert.rejects(streamTemplatePairs(path, () => {}), { code: 'DATASET_FORMAT', details: { file: path, line: 1 } });
});

test('template features: detector-score weighting, media means, the sum over medias, L2 norm', () => {
  const feats = templateFeatures(set.weighted, set.dim, set.templates, set.medias);
  assert.deepEqual(Array.from(feats.ids), [1, 2, 3, 4, 5, 6, 7]);
  const row = (t: number) => Array.from(feats.features.subarray((t - 1) * 4, t * 4));
  const s5 = Math.sqrt(5);
  // T1 = 0.5*(2,0,0,0) + mean((0,1,0,0), (0,3,0,0)) = (1, 2, 0, 0)
  row(1).forEach((v, k) => close(v, [1 / s5, 2 / s5, 0, 0][k]));
  // T2 = 0.25 * (4, 2, 0, 0)
  row(2).forEach((v, k) => close(v, [2 / s5, 1 / s5, 0, 0][k]));
  assert.deepEqual(row(3), [0, 0, 1, 0]);
  row(4).forEach((v, k) => close(v, [0, 0, 0.6, 0.8][k]));
  assert.deepEqual(row(6), [1, 0, 0, 0]);
  // A plain mean over a template's images would give T1 a different direction:
  // mean(0.5*(2,0), (0,1), (0,3)) is (1, 4)/3, not (1, 2).
  assert.notEqual(row(1)[1] / row(1)[0], 4);
});

test('IJB-C 1:1 TAR@FAR on the fixture equals the hand-worked table', async () => {
  // Genuine scores 1.0, 0.8, 0.6, 1/sqrt5; impostors 2/sqrt5 and nine zeros.
  // Raw ROC points (fps, tps): (0,1) (1,1) (1,2) (1,3) (1,4) (10,4); drop_intermediate keeps
  // points 0, 1, 4, 5, so with (0,0): fpr [0, 0, .1, .1, 1], tpr [0, .25, .25, 1, 1].
  // FAR 1e-6 .. 1e-2: nearest fpr is 0, reached at tpr 0.25 and 0: the higher wins -> 25.
  // FAR 0.1: exactly the point (0.1, 1) -> 100.
  const result = await runIjbVerification(set);
  assert.equal(result.pairs, IJBC_PAIRS.length);
  assert.equal(result.genuine, 4);
  assert.equal(result.impostor, 10);
  assert.deepEqual(result.tarAtFar, { '1e-06': 25, '1e-05': 25, '0.0001': 25, '0.001': 25, '0.01': 25, '0.1': 100 });
  assert.deepEqual(Array.from(result.roc.fpr), [0, 0, 0.1, 0.1, 1]);
  assert.deepEqual(Array.from(result.roc.tpr), [0, 0.25, 0.25, 1, 1]);
});

test('IJB-C 1:N top-k and TPIR@FPIR on the fixture equal the hand-worked values', async () => {
  // Gallery T1 (A), T3 (B), T7 (C); probes T2, T5, T6 (A) and T4 (B).
  // T4 scores 0.6 with its mate T3 but 0.701 with T7: rank 2. Top-1 3/4, top-5 4/4.
  // ceil(4 * 0.01) = ceil(4 * 0.1) = 1: the threshold is the largest non-mate score, 0.701;
  // only T2's mate score (0.8) is above it: TPIR 1/4 at both FPIRs.
  const r = await runIjbIdentification(set);
  assert.equal(r.probes, 4);
  assert.equal(r.gallery, 3);
  assert.deepEqual(r.top, { top1: 75, top5: 100, top10: 100 });
  assert.deepEqual(r.tpirAtFpir, { '0.01': 25, '0.1': 25 });
  close(r.thresholds['0.1'], (0.6 * -0.15 + 0.8 * 0.99) / Math.hypot(0.15, 0.99));
});

test('a probe subject without exactly one gallery template is an error, as gen_mask raises', async () => {
  const bad = join(dir, 'ijbc-bad');
  await writeIjbc(bad, join(dir, 'features-bad'), { images: false });
  // G2 lists T1 again instead of T3 and T7: subject 12 (probe T4) has no gallery template.
  const rows = IJBC_IMAGES.filter((i) => i.template === 1).map((i) => `${i.template},${i.subject},x,1`);
  await writeFile(join(bad, 'meta', 'ijbc_1N_gallery_G2.csv'), `TEMPLATE_ID,SUBJECT_ID\n${rows.join('\n')}\n`);
  const s = await loadIjbImages(bad, new FeatureFiles(join(dir, 'features-bad')));
  await assert.rejects(runIjbIdentification(s), { code: 'METRIC_UNDEFINED', details: { subject: 12, galleryTemplates: 0 } });
});

/** The reference fixture's per-image features (f(img) + f(flip)), served from memory. */
class ReferenceFeatures implements FeatureSource {
  readonly kind = 'features' as const;
  constructor(private readonly rows: Map<string, Float64Array>, private readonly dim: number, private readonly skip = new Set<string>()) {}
  async features(requests: readonly ImageRequest[], _form: FeatureForm): Promise<FeatureMatrix> {
    const data = new Float64Array(requests.length * this.dim);
    const missing = new Uint8Array(requests.length);
    requests.forEach((r, i) => {
      const name = r.image.split('/').pop() as string;
      if (this.skip.has(name)) missing[i] = 1;
      else data.set(this.rows.get(name) as Float64Array, i * this.dim);
    });
    return this.skip.size > 0 ? { data, dim: this.dim, missing } : { data, dim: this.dim };
  }
}

function referenceFeatures(skip?: Set<string>): ReferenceFeatures {
  const f = readReference<{ dim: number; images: string[]; flipSum: number[] }>('ijb/features.json');
  const rows = new Map(f.images.map((name, i) => [name, Float64Array.from(f.flipSum.slice(i * f.dim, (i + 1) * f.dim))]));
  return new ReferenceFeatures(rows, f.dim, skip);
}

interface IjbReference {
  scores: number[];
  tarAtFar: Record<string, number>;
  fpr: number[];
  tpr: number[];
  identification: { probes: number; gallery: number; top1: number; top5: number; top10: number; fpir: Array<{ far: number; k: number; recall: number; th: number }> };
}

test("IJB-C 1:1 on the reference files equals InsightFace's ijb_onnx.py: pair scores, ROC, TAR@FAR", async () => {
  const ref = readReference<IjbReference>('ijb/expected.json');
  const set = await loadIjbImages(join(REFERENCE_DIR, 'ijb'), referenceFeatures());
  const r = await runIjbVerification(set);
  assert.equal(r.pairs, ref.scores.length);
  assert.equal(r.excludedPairs, 0);
  const labels = (await import('node:fs')).readFileSync(join(REFERENCE_DIR, 'ijb/meta/ijbc_template_pair_label.txt'), 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[2]));
  const impostor = Float64Array.from(ref.scores.filter((_, i) => labels[i] === 0)).sort();
  assertClose(r.impostorScores, impostor, 1e-15, 'impostor score');
  assert.deepEqual(Array.from(r.roc.fpr), ref.fpr);
  assert.deepEqual(Array.from(r.roc.tpr), ref.tpr);
  for (const far of IJB_FAR_TARGETS) {
    const label = pythonFloatLabel(far);
    assert.equal(r.tarAtFar[label], ref.tarAtFar[label], label);
  }
});

test("IJB-C 1:N on the reference files equals InsightFace's ijb_1n.py: top-1/5/10, TPIR@FPIR and its thresholds", async () => {
  const ref = readReference<IjbReference>('ijb/expected.json').identification;
  const set = await loadIjbImages(join(REFERENCE_DIR, 'ijb'), referenceFeatures());
  const r = await runIjbIdentification(set);
  assert.deepEqual([r.probes, r.gallery], [ref.probes, ref.gallery]);
  assert.deepEqual(r.top, { top1: ref.top1 * 100, top5: ref.top5 * 100, top10: ref.top10 * 100 });
  for (const f of ref.fpir) {
    assert.equal(r.tpirAtFpir[String(f.far)], f.recall * 100, `TPIR@FPIR ${f.far}`);
    assertClose([r.thresholds[String(f.far)]], [f.th], 1e-15, `threshold at FPIR ${f.far} (the ${f.k}-th non-mate score)`);
  }
});

test('skipped images: left out of their template; a template without images drops its pairs and probes, counted', async () => {
  const tm = (await import('node:fs')).readFileSync(join(REFERENCE_DIR, 'ijb/meta/ijbc_face_tid_mid.txt'), 'utf8').trim().split('\n').map((l) => l.split(' '));
  const byTemplate = new Map<string, string[]>();
  for (const [name, tid] of tm) byTemplate.set(tid, [...(byTemplate.get(tid) ?? []), name]);
  // One template loses all its images; another loses one of several.
  const [lostTid, lostImages] = [...byTemplate].find(([, imgs]) => imgs.length === 1) as [string, string[]];
  const [thinTid, thinImages] = [...byTemplate].find(([, imgs]) => imgs.length >= 3) as [string, string[]];
  const skip = new Set([...lostImages, thinImages[0]]);
  const set = await loadIjbImages(join(REFERENCE_DIR, 'ijb'), referenceFeatures(skip));
  const r = await runIjbVerification(set);
  const pairs = (await import('node:fs')).readFileSync(join(REFERENCE_DIR, 'ijb/meta/ijbc_template_pair_label.txt'), 'utf8').trim().split('\n').map((l) => l.split(' '));
  const lostPairs = pairs.filter(([a, b]) => a === lostTid || b === lostTid).length;
  assert.ok(lostPairs > 0);
  assert.equal(r.excludedPairs, lostPairs);
  assert.deepEqual(r.templatesWithoutImages, [Number(lostTid)]);
  assert.equal(r.genuine + r.impostor, pairs.length - lostPairs);
  // The thinned template is aggregated over its other images: it is still scored.
  const feats = templateFeatures(set.weighted, set.dim, set.templates, set.medias, undefined, set.missing);
  assert.ok(Array.from(feats.ids).includes(Number(thinTid)));
  assert.ok(!Array.from(feats.ids).includes(Number(lostTid)));
  const oneN = await runIjbIdentification(set);
  assert.equal(oneN.excludedGallery + oneN.excludedProbes + oneN.probes + oneN.gallery, 160);
  assert.equal(oneN.excludedGallery + oneN.excludedProbes >= 1, true);
});
