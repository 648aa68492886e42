import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { writeMegaface } from '../../scripts/fixtures/make-face-benchmarks.js';
import { BlockScorer } from '../../src/eval/exact-search.js';
import { FeatureFiles } from '../../src/eval/feature-source.js';
import { evaluateMegaface, runMegaface, type MegafaceLists } from '../../src/eval/megaface.js';
import { mulberry32 } from '../../src/seeded-random.js';

const dir = await mkdtemp(join(tmpdir(), 'protoserve-megaface-'));
after(() => rm(dir, { recursive: true, force: true }));
before(() => writeMegaface(join(dir, 'megaface'), join(dir, 'features'), { images: false }));

test('the block scorer computes exact dot products of queries against a block of rows', async () => {
  const scorer = await BlockScorer.create();
  try {
    const q = Float32Array.from([1, 2, 3, 4, 5, 6]); // 2 x 3
    const x = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]); // 4 x 3
    assert.deepEqual(Array.from(await scorer.dot(q, 2, x, 4, 3)), [1, 2, 3, 6, 4, 5, 6, 15]);
  } finally {
    await scorer.release();
  }
});

test('MegaFace rank-1 and TAR@FAR=1e-6 on the fixture equal the hand-worked values', async () => {
  // Alice at 0, 10, 40 degrees; Bob at 0, 20 degrees; 8 (query, gallery) pairs.
  // Size 10: all distractors are >= 90 degrees away: rank-1 100, TAR 100.
  // Size 100 adds a distractor at 25 degrees (15 from Alice's 10- and 40-degree images, 25 from
  // her 0-degree one): it beats the mates at 40 and 30 degrees, i.e. queries (0->40), (10->40),
  // (40->0), (40->10): rank-1 4/8, rank-2 8/8. TAR: ceil(1e-6 * 500) = 1, threshold = the
  // 15-degree impostor; only the 10-degree genuine pair is closer: 1/4.
  const r = await runMegaface(join(dir, 'megaface'), new FeatureFiles(join(dir, 'features')), { blockSize: 16 });
  assert.equal(r.probes, 5);
  assert.equal(r.identities, 2);
  assert.equal(r.queries, 8);
  assert.equal(r.genuinePairs, 4);
  const [s10, s100] = r.sizes;
  assert.equal(s10.size, 10);
  assert.equal(s10.rank1, 100);
  assert.equal(s10.tarAtFar, 100);
  assert.equal(s100.size, 100);
  assert.equal(s100.rank1, 50);
  assert.equal(s100.cmc[1], 100);
  assert.equal(s100.tarAtFar, 25);
  assert.equal(s100.impostors, 500);
  const d15 = 2 - 2 * Math.cos((15 * Math.PI) / 180);
  assert.ok(Math.abs(s100.threshold + d15) < 1e-6, `threshold ${s100.threshold} vs -${d15}`);
});

test('the cleaned protocol ignores listed distractors and replaces noisy probes by their identity centre', async () => {
  const root = join(dir, 'megaface');
  await writeFile(join(root, 'facescrub_noises.txt'), '# noisy probes\nAlice_3.png\n');
  await writeFile(join(root, 'megaface_noises.txt'), '# noisy distractors\n0\t99/99999@N00/near_25deg.jpg\n');
  const r = await runMegaface(root, new FeatureFiles(join(dir, 'features')), { clean: true });
  // Alice_3 becomes normalize(Alice_1 + Alice_2) = 5 degrees and the 25-degree distractor is
  // gone: every query is a hit at both sizes, and every genuine pair beats every impostor.
  assert.deepEqual(r.sizes.map((s) => s.rank1), [100, 100]);
  assert.deepEqual(r.sizes.map((s) => s.tarAtFar), [100, 100]);
});

test("TAR@FAR ranks impostors by Python's rule on the exact count: ceil(3 x 100000 x 1e-5) = 4", async () => {
  // 3 probes (two of one identity) and 100,000 distractors in 2-d; impostor score = -distance.
  const dim = 2;
  const N = 100000;
  const probes = Float32Array.from([1, 0, 0.8, 0.6, 0, 1]);
  // Six distractors at 0.05, 0.10, ... from probe a1 (the top impostors, all distinct), the rest far.
  const rand = mulberry32(5);
  const distractors = Float32Array.from({ length: N * dim }, () => 10 + rand());
  for (let k = 0; k < 6; k++) distractors.set([1 + 0.05 * (k + 1), 0], k * dim);
  const lists: MegafaceLists = {
    probePaths: ['a1', 'a2', 'b1'],
    probeIds: ['a', 'a', 'b'],
    distractors: [{ size: N, paths: Array.from({ length: N }, (_, j) => `d${j}`) }],
    set: 1,
  };
  const source = {
    load: async (kind: 'probe' | 'distractor', paths: readonly string[]) => {
      if (kind === 'probe') return { data: probes, dim };
      const data = new Float32Array(paths.length * dim);
      paths.forEach((p, i) => data.set(distractors.subarray(Number(p.slice(1)) * dim, Number(p.slice(1)) * dim + dim), i * dim));
      return { data, dim };
    },
  };
  const r = await evaluateMegaface(lists, source, { far: 1e-5, blockSize: 8192 });
  const impostors: number[] = [];
  for (let q = 0; q < 3; q++) {
    for (let j = 0; j < N; j++) {
      const dx = probes[q * dim] - distractors[j * dim];
      const dy = probes[q * dim + 1] - distractors[j * dim + 1];
      impostors.push(-(dx * dx + dy * dy));
    }
  }
  impostors.sort((a, b) => b - a);
  assert.equal(r.sizes[0].impostors, 300000);
  // float32 Gemm distances: the 4th largest, not the 3rd (toPrecision(12) rounding gave 3).
  assert.ok(Math.abs(r.sizes[0].threshold - impostors[3]) < 1e-5, `${r.sizes[0].threshold} vs 4th ${impostors[3]} (3rd ${impostors[2]})`);
  assert.ok(Math.abs(impostors[3] - impostors[2]) > 1e-3, 'the 3rd and 4th impostors differ enough to tell the rules apart');
});

test('blocked search equals the dense answer, whatever the block size', async () => {
  // Random 8-d data; the dense answer is computed here directly from the definition.
  const uniform = mulberry32(99);
  const rand = () => uniform() - 0.5;
  const dim = 8;
  const P = 12;
  const N = 300;
  const probes = Float32Array.from({ length: P * dim }, rand);
  const distractors = Float32Array.from({ length: N * dim }, rand);
  const lists: MegafaceLists = {
    probePaths: Array.from({ length: P }, (_, i) => `p${i}`),
    probeIds: Array.from({ length: P }, (_, i) => `id${i % 4}`),
    distractors: [
      { size: 100, paths: Array.from({ length: 100 }, (_, j) => `d${j}`) },
      { size: 300, paths: Array.from({ length: 300 }, (_, j) => `d${j}`) },
    ],
    set: 1,
  };
  const source = {
    load: async (kind: 'probe' | 'distractor', paths: readonly string[]) => {
      const src = kind === 'probe' ? probes : distractors;
      const data = new Float32Array(paths.length * dim);
      paths.forEach((p, i) => data.set(src.subarray(Number(p.slice(1)) * dim, Number(p.slice(1)) * dim + dim), i * dim));
      return { data, dim };
    },
  };
  const dist = (a: Float32Array, i: number, b: Float32Array, j: number) => {
    let s = 0;
    for (let k = 0; k < dim; k++) s += (a[i * dim + k] - b[j * dim + k]) ** 2;
    return s;
  };
  const expectRank1 = (n: number) => {
    let hits = 0;
    let total = 0;
    for (let q = 0; q < P; q++) {
      for (let g = 0; g < P; g++) {
        if (q === g || q % 4 !== g % 4) continue;
        total++;
        const mate = dist(probes, q, probes, g);
        let closer = 0;
        for (let j = 0; j < n; j++) if (dist(probes, q, distractors, j) < mate) closer++;
        if (closer === 0) hits++;
      }
    }
    return (hits / total) * 100;
  };
  for (const blockSize of [7, 64, 1000]) {
    const r = await evaluateMegaface(lists, source, { blockSize });
    assert.deepEqual(r.sizes.map((s) => s.rank1), [expectRank1(100), expectRank1(300)], `block ${blockSize}`);
  }
});
