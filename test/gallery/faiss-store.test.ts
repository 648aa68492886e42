// The faiss-backed prototype index against a brute-force reference written here.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { FaissStore } from '../../src/gallery/faiss-store.js';
import type { GalleryStore, IndexSpec, SearchHit } from '../../src/gallery/gallery-store.js';
import { IVF_MIN_PROTOTYPES } from '../../src/gallery/gallery-store.js';
import { normalArray } from '../../src/seeded-random.js';

/** A stream of N(0, 1) samples from the project's seeded generator. */
function rng(seed: number) {
  const values = normalArray(1 << 20, 1, seed);
  let i = 0;
  return () => values[i++ % values.length];
}

function unit(v: Float32Array, d: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let o = 0; o < v.length; o += d) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[o + j] * v[o + j];
    for (let j = 0; j < d; j++) out[o + j] = v[o + j] / Math.sqrt(s);
  }
  return out;
}

/** Top-k by cosine over a key -> vector map, computed in float64. */
function bruteForce(items: Map<string, Float32Array>, query: Float32Array, k: number): SearchHit[] {
  const q = unit(query, query.length);
  const scored = [...items].map(([key, v]) => {
    const u = unit(v, v.length);
    let s = 0;
    for (let j = 0; j < q.length; j++) s += q[j] * u[j];
    return { key, similarity: s };
  });
  return scored.sort((a, b) => b.similarity - a.similarity).slice(0, k);
}

/** Vectors clustered around `centres` random directions (a gallery of identities is not uniform noise). */
function clustered(n: number, d: number, centres: number, seed: number): Float32Array {
  const g = rng(seed);
  const c = Float32Array.from({ length: centres * d }, g);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = c[(i % centres) * d + j] + 0.6 * g();
  return out;
}

const stores: GalleryStore[] = [];
async function open(d: number, spec: IndexSpec): Promise<GalleryStore> {
  const s = await FaissStore.open(d, spec);
  stores.push(s);
  return s;
}
after(async () => {
  for (const s of stores) await s.close();
});

test('exact: top-k keys and cosine similarities equal brute force', async () => {
  const d = 32;
  const n = 2000;
  const data = clustered(n, d, 50, 1);
  const items = new Map<string, Float32Array>();
  const keys = Array.from({ length: n }, (_, i) => `id-${i}`);
  keys.forEach((k, i) => items.set(k, data.slice(i * d, (i + 1) * d)));
  const store = await open(d, { kind: 'exact' });
  await store.upsert(keys.slice(0, 1000), data.subarray(0, 1000 * d));
  await store.upsert(keys.slice(1000), data.subarray(1000 * d), { defer: true });
  const g = rng(2);
  const queries = Float32Array.from({ length: 20 * d }, g);
  const hits = await store.search(queries, 10);
  hits.forEach((row, i) => {
    const want = bruteForce(items, queries.slice(i * d, (i + 1) * d), 10);
    assert.deepEqual(row.map((h) => h.key), want.map((h) => h.key), `query ${i}`);
    row.forEach((h, j) => assert.ok(Math.abs(h.similarity - want[j].similarity) < 1e-5));
  });
  assert.deepEqual(await store.stats(), { size: n, dead: 0, descriptor: 'Flat' });
  const [stored] = await store.get(['id-7']);
  assert.ok(stored && Math.abs(Math.hypot(...stored) - 1) < 1e-6, 'prototypes are stored at unit length');
  assert.deepEqual(await store.get(['nope']), [undefined]);
});

test('replacing and removing keys: searches see the live prototypes only; tombstones are compacted', async () => {
  const d = 8;
  const store = await open(d, { kind: 'exact' });
  const g = rng(3);
  const items = new Map<string, Float32Array>();
  const n = 3000;
  const data = Float32Array.from({ length: n * d }, g);
  const keys = Array.from({ length: n }, (_, i) => `k${i}`);
  await store.upsert(keys, data);
  keys.forEach((k, i) => items.set(k, data.slice(i * d, (i + 1) * d)));
  // Replace a third, remove a tenth: more than a quarter dead -> a rebuild.
  for (let r = 0; r < 1000; r += 100) {
    const batch = keys.slice(r, r + 100);
    const fresh = Float32Array.from({ length: 100 * d }, g);
    await store.upsert(batch, fresh);
    batch.forEach((k, i) => items.set(k, fresh.slice(i * d, (i + 1) * d)));
  }
  const gone = keys.slice(2700);
  await store.remove([...gone, 'never-there']);
  for (const k of gone) items.delete(k);
  const stats = await store.stats();
  assert.equal(stats.size, 2700);
  assert.equal(stats.dead, 0, 'a rebuild dropped the tombstones');
  const queries = Float32Array.from({ length: 10 * d }, g);
  (await store.search(queries, 25)).forEach((row, i) => {
    assert.deepEqual(row.map((h) => h.key), bruteForce(items, queries.slice(i * d, (i + 1) * d), 25).map((h) => h.key));
  });
  // k above the gallery size: every live prototype, once.
  const all = await store.search(queries.slice(0, d), 5000);
  assert.equal(all[0].length, 2700);
  assert.equal(new Set(all[0].map((h) => h.key)).size, 2700);
});

test('when tombstones crowd the top of faiss\'s list, the search asks again for more', async () => {
  const d = 4;
  const store = await open(d, { kind: 'exact' });
  // 100 prototypes close to (1, 0, 0, 0); the 90 closest removed (too few tombstones to rebuild).
  const keys = Array.from({ length: 100 }, (_, i) => `c${i}`);
  await store.upsert(keys, Float32Array.from({ length: 100 * d }, (_, j) => (j % d === 0 ? 1 : j % d === 1 ? (j - 1) / d / 100 : 0)));
  await store.remove(keys.slice(0, 90));
  assert.equal((await store.stats()).dead, 90);
  const [row] = await store.search(Float32Array.from([1, 0, 0, 0]), 10);
  assert.deepEqual(row.map((h) => h.key), keys.slice(90));
});

test('ivf: exact until it can train, then IVF lists; recall@1 against exact on clustered data', async () => {
  const d = 16;
  const n = IVF_MIN_PROTOTYPES + 2000;
  const data = clustered(n, d, 400, 4);
  const keys = Array.from({ length: n }, (_, i) => `p${i}`);
  const ivf = await open(d, { kind: 'ivf' });
  const exact = await open(d, { kind: 'exact' });
  await ivf.upsert(keys.slice(0, 5000), data.subarray(0, 5000 * d));
  assert.equal((await ivf.stats()).descriptor, 'Flat');
  await ivf.upsert(keys.slice(5000), data.subarray(5000 * d));
  await exact.upsert(keys, data);
  const stats = await ivf.stats();
  assert.match(stats.descriptor, /^IVF\d+,Flat$/);
  assert.ok(stats.nlist && stats.nprobe && stats.nprobe <= stats.nlist);
  const g = rng(5);
  const nq = 200;
  const queries = new Float32Array(nq * d);
  for (let i = 0; i < nq; i++) for (let j = 0; j < d; j++) queries[i * d + j] = data[(i * 37) * d + j] + 0.3 * g();
  const [a, e] = [await ivf.search(queries, 1), await exact.search(queries, 1)];
  const recall = a.filter((row, i) => row[0]?.key === e[i][0].key).length / nq;
  assert.ok(recall >= 0.9, `recall@1 ${recall}`);
});

test('hnsw: a graph index with the same answers on easy queries', async () => {
  const d = 16;
  const n = 3000;
  const data = clustered(n, d, 100, 6);
  const keys = Array.from({ length: n }, (_, i) => `h${i}`);
  const store = await open(d, { kind: 'hnsw', m: 16, efSearch: 64 });
  await store.upsert(keys, data);
  assert.equal((await store.stats()).descriptor, 'HNSW16');
  // Each stored vector finds itself first; a replaced one is found under its new vector only.
  const hits = await store.search(data.subarray(0, 100 * d), 1);
  assert.ok(hits.filter((row, i) => row[0].key === keys[i]).length >= 98);
  await store.upsert(['h0'], data.subarray(d * 5, d * 6));
  const [row] = await store.search(data.subarray(0, d), 3);
  assert.ok(!row.some((h) => h.key === 'h0' && h.similarity > 0.999), 'the old prototype of h0 is gone');
  await store.remove(['h1']);
  assert.ok(!(await store.search(data.subarray(d, 2 * d), 10))[0].some((h) => h.key === 'h1'));
});

test('misuse is an error, never a crash: k, dimension, non-finite or zero vectors, duplicate keys', async () => {
  const store = await open(4, { kind: 'exact' });
  await store.upsert(['a'], new Float32Array([1, 0, 0, 0]));
  await assert.rejects(store.search(new Float32Array(4).fill(1), 0), { code: 'INVALID_PARAMETER', message: /k must be a positive integer/ });
  await assert.rejects(store.search(new Float32Array(3), 1), { code: 'INVALID_PARAMETER', message: /multiple of the dimension 4/ });
  await assert.rejects(store.upsert(['b'], new Float32Array([NaN, 0, 0, 0])), { code: 'INVALID_PARAMETER', message: /non-finite/ });
  await assert.rejects(store.upsert(['b'], new Float32Array(4)), { code: 'INVALID_PARAMETER', message: /all zeros/ });
  await assert.rejects(store.upsert(['b', 'b'], new Float32Array(8).fill(1)), { code: 'INVALID_PARAMETER', message: /twice/ });
  await assert.rejects(store.upsert([''], new Float32Array(4).fill(1)), { code: 'INVALID_PARAMETER' });
  // Still alive, still right.
  assert.deepEqual((await store.search(new Float32Array([2, 0, 0, 0]), 5))[0], [{ key: 'a', similarity: 1 }]);
  // An empty store answers empty lists (faiss is not asked for k > ntotal).
  const empty = await open(4, { kind: 'hnsw', m: 8, efSearch: 16 });
  assert.deepEqual(await empty.search(new Float32Array(8).fill(1), 3), [[], []]);
});

test('searches run off the event loop: timers fire while a long search runs', async () => {
  const d = 64;
  const n = 40_000;
  const store = await open(d, { kind: 'exact' });
  await store.upsert(Array.from({ length: n }, (_, i) => `x${i}`), Float32Array.from({ length: n * d }, rng(7)), { defer: true });
  await store.flush();
  const order: string[] = [];
  const search = store.search(Float32Array.from({ length: 400 * d }, rng(8)), 10).then(() => order.push('search done'));
  // A timer set after the search started fires before the search is answered.
  await new Promise((resolve) => setTimeout(resolve, 1)).then(() => order.push('timer'));
  await search;
  assert.deepEqual(order, ['timer', 'search done']);
});
