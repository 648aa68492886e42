// Sessions and intra-op threads per model when the configuration says auto (0): one
// single-threaded session per core up to MAX_AUTO_CPU_SESSIONS on CPU, one on a GPU; explicit
// values are kept.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MAX_AUTO_CPU_SESSIONS, planSessions } from '../../src/infer/session-plan.js';

const auto = { workers: 0, intraOpThreads: 0 };

describe('planSessions', () => {
  test('auto on CPU: one session per core, the cores shared among them, capped', () => {
    assert.deepEqual(planSessions(auto, 'cpu', 1), { sessions: 1, intraOpThreads: 1 });
    assert.deepEqual(planSessions(auto, 'cpu', 2), { sessions: 2, intraOpThreads: 1 });
    assert.deepEqual(planSessions(auto, 'cpu', 16), { sessions: MAX_AUTO_CPU_SESSIONS, intraOpThreads: 16 / MAX_AUTO_CPU_SESSIONS });
    assert.deepEqual(planSessions(auto, 'cpu', 6), { sessions: 4, intraOpThreads: 1 });
  });

  test('auto on a GPU: one session, with the CPU plan threads the first session started with', () => {
    assert.deepEqual(planSessions(auto, 'cuda', 16), { sessions: 1, intraOpThreads: 4 });
    assert.deepEqual(planSessions(auto, 'webgpu', 2), { sessions: 1, intraOpThreads: 1 });
  });

  test('explicit values win on every provider; threads follow the asked sessions', () => {
    assert.deepEqual(planSessions({ workers: 3, intraOpThreads: 0 }, 'cpu', 12), { sessions: 3, intraOpThreads: 4 });
    assert.deepEqual(planSessions({ workers: 2, intraOpThreads: 0 }, 'cuda', 12), { sessions: 2, intraOpThreads: 6 });
    assert.deepEqual(planSessions({ workers: 0, intraOpThreads: 5 }, 'cpu', 2), { sessions: 2, intraOpThreads: 5 });
    assert.deepEqual(planSessions({ workers: 1, intraOpThreads: 2 }, 'cpu', 64), { sessions: 1, intraOpThreads: 2 });
  });
});
