// SSD anchors as MediaPipe's SsdAnchorsCalculator lays them out for BlazeFace (fixed_anchor_size,
// anchor_offset 0.5): per layer, a grid of ceil(height / stride) x ceil(width / stride) cells,
// row by row, `perCell` anchors per cell, all centred on the cell with unit size. The detector
// outputs one row per anchor in exactly this order.

export interface AnchorLayer {
  /** Input pixels per cell. */
  stride: number;
  /** Anchors per cell. */
  perCell: number;
}

/** Anchor centres (x, y) in [0, 1] of the input, flattened: x0 y0 x1 y1 ... */
export function ssdAnchors(inputHeight: number, inputWidth: number, layers: readonly AnchorLayer[]): Float32Array {
  const out: number[] = [];
  for (const { stride, perCell } of layers) {
    const rows = Math.ceil(inputHeight / stride);
    const cols = Math.ceil(inputWidth / stride);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        for (let k = 0; k < perCell; k++) out.push((x + 0.5) / cols, (y + 0.5) / rows);
      }
    }
  }
  return Float32Array.from(out);
}
