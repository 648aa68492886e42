// The error registry: every code thrown in src is registered with a class, the class fixes the
// CLI's exit status, and the evaluator and artifact layers throw nothing without a code.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

import { reportCliError } from '../../src/cli-report.js';
import { ERROR_CLASSES, classifyError, defineErrorCodes, lookupErrorCode, registeredErrorCodes } from '../../src/error-registry.js';
import { ProtoserveError } from '../../src/errors.js';

const SRC = new URL('../../src/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// Every layer registers its codes in its *-error.ts module: load them all.
for (const file of sources(SRC).filter((f) => f.endsWith('-error.ts'))) await import(file);

test('every code thrown in src is registered with a class', () => {
  const thrown = new Map<string, string>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/new (?:[A-Z]\w*Error)\(\s*'([A-Z][A-Z0-9_]+)'/g)) thrown.set(m[1], relative(SRC, file));
  }
  assert.ok(thrown.size > 40, `${thrown.size} codes found`);
  const unregistered = [...thrown].filter(([code]) => !lookupErrorCode(code));
  assert.deepEqual(unregistered, []);
});

test('src throws no error without a registered code (a bug is an InvariantError)', () => {
  const plain: string[] = [];
  for (const file of sources(SRC)) {
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (/new (?:Error|TypeError|RangeError)\(|new ProtoserveError\(\s*[`"]/.test(line)) plain.push(`${relative(SRC, file)}:${i + 1}`);
    });
  }
  assert.deepEqual(plain, []);
});

test('each class has its exit status; an unregistered or missing code is INTERNAL, exit 1', () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(ERROR_CLASSES).map(([k, v]) => [k, v.exitStatus])),
    { usage: 2, 'not-found': 3, 'invalid-input': 4, unavailable: 5, 'check-failed': 6, internal: 1 },
  );
  const statuses = Object.values(ERROR_CLASSES).map((c) => c.exitStatus);
  assert.equal(new Set(statuses).size, statuses.length, 'one status per class');
  const cases: Array<[unknown, string, number]> = [
    [new ProtoserveError('EVAL_USAGE', 'x'), 'EVAL_USAGE', 2],
    [new ProtoserveError('DATASET_FILE_MISSING', 'x'), 'DATASET_FILE_MISSING', 3],
    [new ProtoserveError('MANIFEST_INVALID', 'x'), 'MANIFEST_INVALID', 4],
    [new ProtoserveError('DEVICE_UNAVAILABLE', 'x'), 'DEVICE_UNAVAILABLE', 5],
    [new ProtoserveError('METRIC_UNDEFINED', 'x'), 'METRIC_UNDEFINED', 6],
    [new ProtoserveError('EXPORT_PARITY_FAILED', 'x'), 'EXPORT_PARITY_FAILED', 6],
    [new ProtoserveError('NO_SUCH_CODE', 'x'), 'NO_SUCH_CODE', 1],
    [new Error('plain'), 'INTERNAL', 1],
    ['a string', 'INTERNAL', 1],
    [Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' }), 'ENOENT', 3],
  ];
  for (const [err, code, status] of cases) {
    const c = classifyError(err);
    assert.deepEqual([c.code, c.exitStatus], [code, status], String(err));
  }
});

test('the CLI line is CODE: message (not doubled for Node errors); internal errors point at PROTOSERVE_DEBUG', () => {
  assert.deepEqual(reportCliError(new ProtoserveError('DATASET_FORMAT', 'pairs.txt:3: bad line'), false), { text: 'DATASET_FORMAT: pairs.txt:3: bad line', exitStatus: 4 });
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' });
  assert.equal(reportCliError(enoent, false).text, "ENOENT: no such file or directory, open 'x'");
  const internal = reportCliError(new Error('boom'), false);
  assert.equal(internal.exitStatus, 1);
  assert.deepEqual(internal.text.split('\n'), ['INTERNAL: boom', '(an unexpected error: rerun with PROTOSERVE_DEBUG=1 to see where it happened)']);
  assert.match(reportCliError(new Error('boom'), true).text, /^INTERNAL: boom\nError: boom\n\s+at /);
});

test('a code is defined once per class: the same class twice is fine, another class is refused', () => {
  defineErrorCodes('test-a', { TEST_SHARED_CODE: { class: 'usage', description: 'a' } });
  defineErrorCodes('test-b', { TEST_SHARED_CODE: { class: 'usage', description: 'b' } });
  assert.deepEqual(lookupErrorCode('TEST_SHARED_CODE')?.layers, ['test-a', 'test-b']);
  assert.throws(() => defineErrorCodes('test-c', { TEST_SHARED_CODE: { class: 'internal', description: 'c' } }), /"usage" in test-a, test-b but "internal" in test-c/);
  assert.throws(() => defineErrorCodes('test-d', { 'lower-case': { class: 'usage', description: 'd' } }), /UPPER_SNAKE_CASE/);
  assert.ok(registeredErrorCodes().every((c) => c.description.length > 0 && c.class in ERROR_CLASSES));
});
