// The second batch's sampler: class frequencies for q = 1 (balanced) and q = 0 (uniform over
// images), indices always of the drawn class, reproducible by seed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClassRebalancedSampler } from '../../../src/train/data/class-sampler.js';
import { mulberry32 } from '../../../src/seeded-random.js';

// 600 images of class 0, 30 of class 1, none of class 2, 3 of class 3, shuffled positions.
const labels = [...Array(600).fill(0), ...Array(30).fill(1), ...Array(3).fill(3)];
for (let i = labels.length - 1; i > 0; i--) {
  const j = (i * 7919) % (i + 1);
  [labels[i], labels[j]] = [labels[j], labels[i]];
}

function classShares(power: number, draws = 30000): number[] {
  const picked = new ClassRebalancedSampler(labels, 4, power).sample(draws, mulberry32(11));
  const counts = [0, 0, 0, 0];
  for (const i of picked) counts[labels[i]]++;
  return counts.map((c) => c / draws);
}

describe('class-rebalanced sampler', () => {
  it('q = 1 draws every class with data equally often', () => {
    const shares = classShares(1);
    for (const c of [0, 1, 3]) assert.ok(Math.abs(shares[c] - 1 / 3) < 0.015, `class ${c}: ${shares[c]}`);
    assert.equal(shares[2], 0);
  });

  it('q = 0 is uniform over images (the reference default)', () => {
    const shares = classShares(0);
    assert.ok(Math.abs(shares[0] - 600 / 633) < 0.01);
    assert.ok(Math.abs(shares[3] - 3 / 633) < 0.003);
  });

  it('draws every image of a class, and the same indices for the same seed', () => {
    const sampler = new ClassRebalancedSampler(labels, 4, 1);
    const a = sampler.sample(3000, mulberry32(3));
    assert.deepEqual(a, sampler.sample(3000, mulberry32(3)));
    const rare = new Set(Array.from(a).filter((i) => labels[i] === 3));
    assert.equal(rare.size, 3);
    assert.throws(() => new ClassRebalancedSampler(labels, 4, 2), /power must be in \[0, 1\]/);
  });
});
