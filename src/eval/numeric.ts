// Float64 reductions in the order NumPy performs them, so that scores equal the reference
// programs' bit for bit where the order is known (np.sum along a contiguous axis uses
// pairwise summation with an 8-way unrolled block of 128; see numpy loops_utils.h.src).

const PW_BLOCKSIZE = 128;

/** NumPy's pairwise sum of a[offset .. offset+n) (float64). */
export function pairwiseSum(a: ArrayLike<number>, offset: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[offset + i];
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = a[offset], r1 = a[offset + 1], r2 = a[offset + 2], r3 = a[offset + 3];
    let r4 = a[offset + 4], r5 = a[offset + 5], r6 = a[offset + 6], r7 = a[offset + 7];
    const end = n - (n % 8);
    let i = 8;
    for (; i < end; i += 8) {
      const o = offset + i;
      r0 += a[o]; r1 += a[o + 1]; r2 += a[o + 2]; r3 += a[o + 3];
      r4 += a[o + 4]; r5 += a[o + 5]; r6 += a[o + 6]; r7 += a[o + 7];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[offset + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, offset, n2) + pairwiseSum(a, offset + n2, n - n2);
}

/**
 * np.sum(x * y) over one row pair: each product rounded to float64, then summed in NumPy's
 * pairwise order. The products are formed inside the summation (same values, no temporary).
 */
export function dotPairwise(x: ArrayLike<number>, xOffset: number, y: ArrayLike<number>, yOffset: number, d: number): number {
  // A Float64Array-only copy keeps the hot loop monomorphic (IJB-C scores 15.7M pairs).
  if (x instanceof Float64Array && y instanceof Float64Array) return pairwiseDotF64(x, xOffset, y, yOffset, d);
  return pairwiseDot(x, xOffset, y, yOffset, d);
}

function pairwiseDotF64(x: Float64Array, xo: number, y: Float64Array, yo: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += x[xo + i] * y[yo + i];
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = x[xo] * y[yo], r1 = x[xo + 1] * y[yo + 1], r2 = x[xo + 2] * y[yo + 2], r3 = x[xo + 3] * y[yo + 3];
    let r4 = x[xo + 4] * y[yo + 4], r5 = x[xo + 5] * y[yo + 5], r6 = x[xo + 6] * y[yo + 6], r7 = x[xo + 7] * y[yo + 7];
    const end = n - (n % 8);
    let i = 8;
    for (; i < end; i += 8) {
      const a = xo + i;
      const b = yo + i;
      r0 += x[a] * y[b]; r1 += x[a + 1] * y[b + 1]; r2 += x[a + 2] * y[b + 2]; r3 += x[a + 3] * y[b + 3];
      r4 += x[a + 4] * y[b + 4]; r5 += x[a + 5] * y[b + 5]; r6 += x[a + 6] * y[b + 6]; r7 += x[a + 7] * y[b + 7];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += x[xo + i] * y[yo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseDotF64(x, xo, y, yo, n2) + pairwiseDotF64(x, xo + n2, y, yo + n2, n - n2);
}

function pairwiseDot(x: ArrayLike<number>, xo: number, y: ArrayLike<number>, yo: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += x[xo + i] * y[yo + i];
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = x[xo] * y[yo], r1 = x[xo + 1] * y[yo + 1], r2 = x[xo + 2] * y[yo + 2], r3 = x[xo + 3] * y[yo + 3];
    let r4 = x[xo + 4] * y[yo + 4], r5 = x[xo + 5] * y[yo + 5], r6 = x[xo + 6] * y[yo + 6], r7 = x[xo + 7] * y[yo + 7];
    const end = n - (n % 8);
    let i = 8;
    for (; i < end; i += 8) {
      const a = xo + i;
      const b = yo + i;
      r0 += x[a] * y[b]; r1 += x[a + 1] * y[b + 1]; r2 += x[a + 2] * y[b + 2]; r3 += x[a + 3] * y[b + 3];
      r4 += x[a + 4] * y[b + 4]; r5 += x[a + 5] * y[b + 5]; r6 += x[a + 6] * y[b + 6]; r7 += x[a + 7] * y[b + 7];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += x[xo + i] * y[yo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseDot(x, xo, y, yo, n2) + pairwiseDot(x, xo + n2, y, yo + n2, n - n2);
}

/**
 * Row-wise L2 normalization in place (rows of length d), as sklearn.preprocessing.normalize:
 * x / sqrt(sum(x^2)), a zero row left as it is. (sklearn sums the squares with einsum, whose
 * order NumPy does not document; the pairwise order used here agrees to within an ulp.)
 */
export function normalizeRows(x: Float64Array, d: number): Float64Array {
  for (let o = 0; o < x.length; o += d) {
    const norm = Math.sqrt(dotPairwise(x, o, x, o, d));
    if (norm === 0) continue;
    for (let k = 0; k < d; k++) x[o + k] /= norm;
  }
  return x;
}

/**
 * The rank k of the score that sets a threshold at false-accept rate `far` among `count` scores:
 * k = ceil(count * far), in float64 exactly as Python computes ijb_1n.py line 187
 * (`math.ceil(query_num * x)`), so 300000 * 1e-5 = 3.0000000000000004 gives 4, as there.
 * `count` is an exact integer (MegaFace: probes x distractors, multiplied first). At least 1.
 */
export function farRank(count: number, far: number): number {
  return Math.max(1, Math.ceil(count * far));
}

/** Mean and population standard deviation (np.mean, np.std with ddof=0). */
export function meanStd(values: ArrayLike<number>): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN };
  const v = Float64Array.from(values);
  const mean = pairwiseSum(v, 0, n) / n;
  for (let i = 0; i < n; i++) {
    const dlt = v[i] - mean;
    v[i] = dlt * dlt;
  }
  return { mean, std: Math.sqrt(pairwiseSum(v, 0, n) / n) };
}
