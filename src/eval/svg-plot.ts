// Minimal line plots as standalone SVG (no plotting dependency): linear or log-10 x axis,
// several series, optional marked points with labels, grid and legend.

export interface Series {
  label: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Points to mark with a circle and their value. */
  marks?: Array<{ x: number; y: number; text: string }>;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  xRange: [number, number];
  yRange: [number, number];
  xTicks: number[];
  yTicks: number[];
  formatX?: (v: number) => string;
  formatY?: (v: number) => string;
  width?: number;
  height?: number;
}

const COLOURS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function linePlotSvg(series: readonly Series[], o: PlotOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 480;
  const m = { left: 70, right: 20, top: 40, bottom: 60 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const tx = (v: number): number => (o.xLog ? Math.log10(v) : v);
  const [x0, x1] = [tx(o.xRange[0]), tx(o.xRange[1])];
  const [y0, y1] = o.yRange;
  const px = (v: number): number => m.left + ((tx(v) - x0) / (x1 - x0)) * pw;
  const py = (v: number): number => m.top + ph - ((v - y0) / (y1 - y0)) * ph;
  const fx = o.formatX ?? ((v: number) => String(v));
  const fy = o.formatY ?? ((v: number) => String(v));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`);
  for (const t of o.xTicks) {
    const x = px(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#ccc" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${esc(fx(t))}</text>`);
  }
  for (const t of o.yTicks) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#ccc" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fy(t))}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 15}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="18" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${m.top + ph / 2})">${esc(o.yLabel)}</text>`);
  parts.push(`<clipPath id="plot"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts: string[] = [];
    let lastPx = NaN;
    for (let k = 0; k < s.x.length; k++) {
      const xv = s.x[k];
      if (o.xLog && !(xv > 0)) continue;
      const X = px(xv);
      const Y = py(s.y[k]);
      // One point per half pixel is enough for the eye (the IJB-C ROC has ~10^5 points).
      if (Math.abs(X - lastPx) < 0.5 && k !== s.x.length - 1) continue;
      lastPx = X;
      pts.push(`${X.toFixed(2)},${Y.toFixed(2)}`);
    }
    if (pts.length > 0) parts.push(`<polyline clip-path="url(#plot)" fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    for (const mk of s.marks ?? []) {
      const X = px(mk.x).toFixed(1);
      const Y = py(mk.y).toFixed(1);
      parts.push(`<circle cx="${X}" cy="${Y}" r="3.5" fill="${colour}"/>`);
      parts.push(`<text x="${X}" y="${(Number(Y) - 8).toFixed(1)}" text-anchor="middle" font-size="11">${esc(mk.text)}</text>`);
    }
    const ly = m.top + ph - 12 - 16 * (series.length - 1 - i);
    parts.push(`<line x1="${m.left + pw - 170}" y1="${ly}" x2="${m.left + pw - 150}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<text x="${m.left + pw - 145}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
