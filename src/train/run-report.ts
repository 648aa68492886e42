// A run's report for machines and people: report.json, report.md and a per-class accuracy plot
// against class size (per-class-accuracy.svg), written into the run folder.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { linePlotSvg } from '../eval/svg-plot.js';
import type { EpochRecord } from './loop.js';
import { classGroup } from './metrics/long-tail.js';
import type { RunConfig } from './run-config.js';

export interface RunReport {
  run: string;
  complete: boolean;
  backend: string;
  /** Processes training data-parallel (1: this one). */
  workers: number;
  /** Training images per second of the invocation that wrote the report (steps and data only). */
  imagesPerSecond: number;
  config: RunConfig;
  dataset: { name: string; source: string; classNames: string[]; classCounts: number[]; testImages: number };
  history: EpochRecord[];
  /** The last evaluation's per-class view, when the task has classes. */
  perClass?: { accuracy: number[]; classifierNorms: number[] };
}

const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : `${(100 * v).toFixed(2)}`);
const num = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(4));

export function writeRunReport(dir: string, report: RunReport): string[] {
  const written = [join(dir, 'report.json'), join(dir, 'report.md')];
  writeFileSync(written[0], `${JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  writeFileSync(written[1], markdown(report));
  if (report.perClass) {
    const path = join(dir, 'per-class-accuracy.svg');
    writeFileSync(path, perClassPlot(report));
    written.push(path);
  }
  return written;
}

function markdown(r: RunReport): string {
  const c = r.config;
  const lines = [
    `# Training run ${r.run}`,
    '',
    `${r.complete ? 'Complete' : 'Paused'}: ${c.net}${c.width ? ` (width ${c.width})` : ''} with ${c.objective} on ${r.dataset.name} ` +
      `(${r.dataset.source}), ${r.dataset.classCounts.reduce((a, b) => a + b, 0)} training / ${r.dataset.testImages} test images, ` +
      `batch ${c.batchSize}, seed ${c.seed}, backend ${r.backend} (${r.workers} worker${r.workers === 1 ? '' : 's'}), ` +
      `${r.imagesPerSecond.toFixed(1)} training images/s in the last invocation.`,
    '',
    '| stage | epochs | optimizer | lr | momentum | weight decay | schedule | warmup | clip |',
    '|---|---:|---|---:|---:|---:|---|---:|---:|',
    ...c.stages.map((s) => `| ${s.name} | ${s.epochs} | ${s.optimizer} | ${s.learningRate} | ${s.momentum} | ${s.weightDecay} | ${s.schedule} | ${s.warmupEpochs} | ${s.clipGradNorm || 'off'} |`),
    '',
  ];
  if (Object.keys(c.objectiveOptions).length > 0) {
    lines.push(`Objective options: ${Object.entries(c.objectiveOptions).map(([k, v]) => `${k} = ${v}`).join(', ')}.`, '');
  }
  const metricNames = [...new Set(r.history.flatMap((h) => Object.keys(h.metrics)))];
  const termNames = [...new Set(r.history.flatMap((h) => Object.keys(h.terms)))];
  lines.push(
    '## Epochs',
    '',
    `| stage | epoch | lr | loss | ${[...termNames, ...metricNames].join(' | ')} | img/s |`,
    `|---|---:|---:|---:|${[...termNames, ...metricNames].map(() => '---:').join('|')}|---:|`,
    ...r.history.map(
      (h) =>
        `| ${h.stage} | ${h.epoch} | ${h.learningRate.toPrecision(3)} | ${num(h.loss)} | ` +
        `${[...termNames.map((t) => num(h.terms[t])), ...metricNames.map((m) => (/accuracy/.test(m) ? pct(h.metrics[m]) : num(h.metrics[m])))].join(' | ')} | ` +
        `${h.imagesPerSecond.toFixed(1)} |`,
    ),
    '',
    'Accuracies in %. Many: > 100 training images, Medium: 20..100, Few: < 20. Compactness: mean cosine of test features to',
    'their class mean; separability: mean cosine between class means (lower separates more); cosines of classifier vectors',
    'within the head (Many), within the tail (Few) and between them.',
    '',
  );
  if (r.perClass) {
    lines.push(
      '## Per class (last evaluation)',
      '',
      '| class | name | training images | group | accuracy | classifier norm |',
      '|---:|---|---:|---|---:|---:|',
      ...r.dataset.classNames.map(
        (name, i) =>
          `| ${i} | ${name} | ${r.dataset.classCounts[i]} | ${classGroup(r.dataset.classCounts[i])} | ${pct(r.perClass!.accuracy[i])} | ${num(r.perClass!.classifierNorms[i])} |`,
      ),
      '',
      '![per-class accuracy against class size](per-class-accuracy.svg)',
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}

function perClassPlot(r: RunReport): string {
  const counts = r.dataset.classCounts;
  const order = counts.map((_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  const x = order.map((i) => Math.max(counts[i], 1));
  const y = order.map((i) => 100 * (r.perClass!.accuracy[i] || 0));
  const label = counts.length <= 20;
  const decades = [1, 10, 100, 1000, 10000, 100000].filter((t) => t <= Math.max(...x) * 10);
  return linePlotSvg(
    [{ label: `${r.config.objective} (${r.run})`, x, y, marks: order.map((i, k) => ({ x: x[k], y: y[k], text: label ? r.dataset.classNames[i] : '' })) }],
    {
      title: `Per-class accuracy against training images, ${r.dataset.name}`,
      xLabel: 'training images of the class (log scale)',
      yLabel: 'test accuracy (%)',
      xLog: true,
      xRange: [Math.max(1, Math.min(...x) / 1.5), Math.max(...x) * 1.5],
      yRange: [0, 100],
      xTicks: decades.filter((t) => t >= Math.min(...x) / 1.5 && t <= Math.max(...x) * 1.5),
      yTicks: [0, 20, 40, 60, 80, 100],
    },
  );
}
