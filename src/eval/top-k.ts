// The k largest values of a stream, kept in a binary min-heap: the threshold scores of 1:N
// (TPIR@FPIR) and MegaFace (TAR@FAR) without holding every impostor score.
/** A binary min-heap holding the k largest values seen. */
export class TopKLargest {
  private readonly heap: Float64Array;
  size = 0;
  constructor(readonly k: number) {
    this.heap = new Float64Array(Math.max(1, k));
  }
  /** The smallest kept value (the k-th largest once full), -Infinity before. */
  get floor(): number {
    return this.size < this.k ? -Infinity : this.heap[0];
  }
  push(v: number): void {
    const h = this.heap;
    if (this.size < this.k) {
      let i = this.size++;
      h[i] = v;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (h[p] <= h[i]) break;
        [h[p], h[i]] = [h[i], h[p]];
        i = p;
      }
      return;
    }
    if (v <= h[0]) return;
    h[0] = v;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.size && h[l] < h[m]) m = l;
      if (r < this.size && h[r] < h[m]) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
  /** Kept values, largest first. */
  sorted(): Float64Array {
    return Float64Array.from(this.heap.subarray(0, this.size)).sort().reverse();
  }
}
