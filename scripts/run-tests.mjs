#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner through tsx.
// Node 20's `node --test` given a folder finds no .ts files and reports "# tests 0" with exit 0,
// so the files are listed here explicitly, and a run that executed no test fails.
// Usage: npm test [-- <substring filter on file paths>...]
//        npm run test:native [-- <filter>...]   (--native: only test/native, the native-backend suite,
//        which needs @tensorflow/tfjs-node: scripts/setup/build-tfjs-node.mjs; left out of npm test)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const native = process.argv.includes('--native');
const filters = process.argv.slice(2).filter((a) => a !== '--native');
const NATIVE_DIR = join('test', 'native');

function walk(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.test.ts') ? [path] : [];
  });
}

const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => f.startsWith(NATIVE_DIR + '/') === native)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no test files found${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
);
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
child.on('close', (code) => {
  const tests = /ℹ tests (\d+)/.exec(tail);
  const count = tests ? Number(tests[1]) : 0;
  if (code === 0 && count === 0) {
    console.error('run-tests: the runner executed no test; failing the run');
    process.exit(1);
  }
  process.exit(code ?? 1);
});
