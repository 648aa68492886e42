// 1:N search latency of the gallery store (faiss-node in its worker thread, as the server runs it)
// for galleries of 10k, 100k and 1M prototypes: exact inner product and the approximate IVF index
// (HNSW with --kinds), one query per search as /identify sends them. Prints p50/p99 per size and
// kind, the approximate index's recall@1 against exact on the same queries, its speed-up over exact
// (the baseline measured in the same run), and how late a 1 ms timer fires on the main thread
// while searches run, against the same timer when idle (the event loop must stay free).
//
//   npx tsx scripts/bench/gallery.ts                          # 10k, 100k, 1M; 512-d; exact, ivf
//   npx tsx scripts/bench/gallery.ts --sizes 10000,100000 --kinds exact,ivf,hnsw --queries 100
//
// Data: synthetic prototypes with the low intrinsic dimension of face embeddings (a 16-d latent
// mapped into --dim dimensions, plus noise carrying a tenth of the variance; --data isotropic for
// uniform random directions, the worst case for any approximate index). Each query is a probe of one enrolled identity: its
// prototype plus noise, at cosine ~0.7 to it, as a new photo of an enrolled person.
import { parseArgs } from 'node:util';

import { FaissStore } from '../../src/gallery/faiss-store.js';
import { parseIndexSpec, type GalleryStore, type IndexSpec } from '../../src/gallery/gallery-store.js';
import { formatDuration } from '../../src/progress.js';
import { normalArray } from '../../src/seeded-random.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    dim: { type: 'string', default: '512' },
    queries: { type: 'string', default: '200' },
    kinds: { type: 'string', default: 'exact,ivf' },
    nprobe: { type: 'string' },
    k: { type: 'string', default: '10' },
    data: { type: 'string', default: 'latent' },
    seed: { type: 'string', default: '1' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const d = Number(values.dim);
const nq = Number(values.queries);
const k = Number(values.k);
const kinds = values.kinds.split(',');
/** Face embeddings have a low intrinsic dimension (estimates run from about 10 to 20). */
const LATENT = 16;
const CHUNK = 16_384;

const seed = Number(values.seed);
/** A fixed random map from the latent space into d dimensions. */
const mix = normalArray(LATENT * d, 1 / Math.sqrt(LATENT), seed);

/** The n x d gallery: latent ? mix . z + noise : isotropic noise, rows normalized. */
function makeGallery(n: number): Float32Array {
  const out = normalArray(n * d, values.data === 'isotropic' ? 1 : 0.35, seed + 1);
  if (values.data !== 'isotropic') {
    const z = normalArray(n * LATENT, 1, seed + 2);
    for (let i = 0; i < n; i++) {
      for (let l = 0; l < LATENT; l++) {
        const zl = z[i * LATENT + l];
        for (let j = 0; j < d; j++) out[i * d + j] += mix[l * d + j] * zl;
      }
    }
  }
  for (let i = 0; i < n; i++) normalize(out, i * d);
  return out;
}

function normalize(v: Float32Array, offset = 0): void {
  let s = 0;
  for (let j = 0; j < d; j++) s += v[offset + j] ** 2;
  const inv = 1 / Math.sqrt(s);
  for (let j = 0; j < d; j++) v[offset + j] *= inv;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** How late 1 ms timers fire on this thread while `work` runs (ms, each sample). */
async function timerLag(work: Promise<unknown>): Promise<number[]> {
  const lags: number[] = [];
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    const t = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1));
    lags.push(performance.now() - t - 1);
  }
  return lags;
}

interface Row {
  size: number;
  kind: string;
  descriptor: string;
  buildS: number;
  p50: number;
  p99: number;
  recall?: number;
  lagP99: number;
  idleLagP99: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const maxN = Math.max(...sizes);
  console.error(`gallery bench: ${sizes.join(', ')} prototypes x ${d}-d (${values.data}), ${nq} queries, k = ${k}, kinds ${kinds.join(', ')}`);
  // Queries: probes of identities spread over the smallest gallery (so every size contains them).
  const minN = Math.min(...sizes);
  const targets = Array.from({ length: nq }, (_, i) => Math.floor(((i + 0.5) * minN) / nq));
  const gallery = makeGallery(maxN);
  const noise = normalArray(nq * d, 1 / Math.sqrt(d), seed + 3);
  const queries = new Float32Array(nq * d);
  targets.forEach((t, i) => {
    for (let j = 0; j < d; j++) queries[i * d + j] = gallery[t * d + j] + noise[i * d + j];
    normalize(queries, i * d);
  });
  console.error(`data ready in ${formatDuration((performance.now() - started) / 1000)}`);

  const rows: Row[] = [];
  for (const n of sizes) {
    let exactTop1: string[] | undefined;
    for (const kind of kinds) {
      const spec: IndexSpec = parseIndexSpec(kind === 'ivf' && values.nprobe ? { kind, nprobe: Number(values.nprobe) } : kind);
      const t0 = performance.now();
      const store: GalleryStore = await FaissStore.open(d, spec);
      try {
        for (let o = 0; o < n; o += CHUNK) {
          const m = Math.min(CHUNK, n - o);
          await store.upsert(Array.from({ length: m }, (_, i) => `id${o + i}`), gallery.subarray(o * d, (o + m) * d), { defer: true });
        }
        await store.flush();
        const buildS = (performance.now() - t0) / 1000;
        const stats = await store.stats();
        await store.search(queries.subarray(0, d), k); // warm-up
        // The baseline: the same timer with the store built and nothing running, for as long.
        const idle = (await timerLag(new Promise((resolve) => setTimeout(resolve, 1000)))).sort((a, b) => a - b);
        const times: number[] = [];
        const top1: string[] = [];
        const run = (async () => {
          for (let i = 0; i < nq; i++) {
            const t = performance.now();
            const [hits] = await store.search(queries.subarray(i * d, (i + 1) * d), k);
            times.push(performance.now() - t);
            top1.push(hits[0]?.key ?? '');
          }
        })();
        const lags = await timerLag(run);
        await run;
        times.sort((a, b) => a - b);
        lags.sort((a, b) => a - b);
        if (kind === 'exact') exactTop1 = top1;
        const recall = exactTop1 && kind !== 'exact' ? top1.filter((key, i) => key === exactTop1?.[i]).length / nq : undefined;
        const row: Row = { size: n, kind, descriptor: stats.descriptor + (stats.nprobe ? ` nprobe=${stats.nprobe}` : ''), buildS, p50: percentile(times, 0.5), p99: percentile(times, 0.99), recall, lagP99: percentile(lags, 0.99), idleLagP99: percentile(idle, 0.99) };
        rows.push(row);
        console.error(
          `${String(n).padStart(8)} ${kind.padEnd(5)} ${row.descriptor.padEnd(24)} build ${buildS.toFixed(1)} s  p50 ${row.p50.toFixed(2)} ms  p99 ${row.p99.toFixed(2)} ms` +
            `${recall !== undefined ? `  recall@1 ${recall.toFixed(3)}` : ''}  timer lag p99 ${row.lagP99.toFixed(2)} ms (idle ${row.idleLagP99.toFixed(2)})`,
        );
      } finally {
        await store.close();
      }
    }
  }

  console.log('');
  console.log('| prototypes | index | faiss | build s | p50 ms | p99 ms | speed-up p50 vs exact | recall@1 vs exact | 1 ms timer lag p99 during searches / idle, ms |');
  console.log('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const exact = rows.find((e) => e.size === r.size && e.kind === 'exact');
    const speedup = exact && r.kind !== 'exact' ? `${(exact.p50 / r.p50).toFixed(1)}x` : '';
    console.log(`| ${r.size} | ${r.kind} | ${r.descriptor} | ${r.buildS.toFixed(1)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${speedup} | ${r.recall === undefined ? '' : r.recall.toFixed(3)} | ${r.lagP99.toFixed(2)} / ${r.idleLagP99.toFixed(2)} |`);
  }
  console.error(`\n${d}-d ${values.data} prototypes, ${nq} single-query searches each, k = ${k}; total ${formatDuration((performance.now() - started) / 1000)}`);
}

await main();
