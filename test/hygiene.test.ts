// Repetitions a maintainer's read found, kept from coming back: one seeded generator, one L2
// normalization in the evaluator, one "a/an" helper, benchmark modules that do not borrow from
// each other, no unused session API.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

import { ModelSession } from '../src/infer/model-session.js';

const ROOT = new URL('..', import.meta.url).pathname;

function files(dir: string, ext = /\.(ts|mts|mjs)$/): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return e === 'node_modules' || e === 'fixtures' ? [] : files(p, ext);
    return ext.test(e) ? [p] : [];
  });
}

function lines(paths: string[], re: RegExp): string[] {
  return paths.flatMap((p) =>
    readFileSync(p, 'utf8')
      .split('\n')
      .flatMap((l, i) => (re.test(l) ? [`${relative(ROOT, p)}:${i + 1}`] : [])),
  );
}

const code = ['src', 'test', 'scripts'].flatMap((d) => files(join(ROOT, d)));

test('random numbers come from src/seeded-random.ts only (no hand-written generator beside it)', () => {
  const found = lines(code, /Math\.imul\(|1103515245|1664525|0x6d2b79f5/).filter((l) => !l.startsWith('src/seeded-random.ts:') && !l.startsWith('test/hygiene.test.ts:'));
  assert.deepEqual(found, []);
});

test('the evaluator normalizes vectors in one place (numeric.ts, in NumPy\'s order)', () => {
  const found = lines(files(join(ROOT, 'src/eval')), /Math\.sqrt\(/).filter((l) => !l.startsWith('src/eval/numeric.ts:'));
  assert.deepEqual(found, []);
});

test('"a classifier" / "an embedder" is written by one helper', () => {
  assert.deepEqual(lines(files(join(ROOT, 'src')), /\^\[aeiou\]/), ['src/infer/task-words.ts:5']);
});

test('benchmark modules do not import each other\'s helpers (shared ones live in their own modules)', () => {
  const imports = (f: string) => [...readFileSync(join(ROOT, 'src/eval', f), 'utf8').matchAll(/from '\.\/([\w-]+)\.js'/g)].map((m) => m[1]);
  assert.ok(!imports('megaface.ts').some((m) => m.startsWith('ijbc') || m === 'lfw'), imports('megaface.ts').join(', '));
  assert.ok(!imports('lfw.ts').some((m) => m.startsWith('ijbc') || m === 'megaface'));
  assert.ok(!imports('ijbc.ts').some((m) => m === 'lfw' || m === 'megaface'));
});

test('ModelSession has no unused embedPixels (the evaluator batches pixels itself)', () => {
  assert.equal('embedPixels' in ModelSession.prototype, false);
});
