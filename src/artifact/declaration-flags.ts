// The command-line flags that declare what a model's graph cannot say about itself (task,
// licence, colour order, normalization, labels, ...), shared by `protoserve models import` (an
// ONNX file) and `protoserve import-tfjs` (a TensorFlow.js graph model).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';

import type { DescribeExternalModelOptions, ExternalInputDeclaration } from './describe-external-model.js';
import { COLOR_ORDERS, LAYOUTS, OUTPUT_KINDS, RESIZE_MODES, TASKS, type OutputSpec, type Task } from './manifest.js';

export const DECLARATION_OPTIONS = {
  models: { type: 'string' },
  name: { type: 'string' },
  task: { type: 'string' },
  licence: { type: 'string' },
  version: { type: 'string' },
  'input-tensor': { type: 'string' },
  'output-tensor': { type: 'string' },
  layout: { type: 'string' },
  height: { type: 'string' },
  width: { type: 'string' },
  color: { type: 'string' },
  scale: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  resize: { type: 'string' },
  kind: { type: 'string' },
  normalized: { type: 'string' },
  labels: { type: 'string' },
} satisfies NonNullable<ParseArgsConfig['options']>;

export type DeclarationValues = { [K in keyof typeof DECLARATION_OPTIONS]?: string };

export const DECLARATION_HELP = `  --models <dir>            models folder (default ./models)
  --version <v>             model version (default 1)
  --input-tensor <name>     graph input (default: the only one)
  --output-tensor <name>    graph output (default: the first)
  --layout NCHW|NHWC        (default: inferred from the input shape)
  --height <n> --width <n>  input size (default: the graph's fixed dims; checked against them)
  --color rgb|bgr|gray      colour order (default rgb, or gray for one channel)
  --scale <x>               pixel * scale (default 1)
  --mean <m[,m,m]>          per channel, or one for all (default 127.5)
  --std <s[,s,s]>           per channel, or one for all (default 127.5)
  --resize stretch|letterbox|center-crop   (default stretch)
  --kind probabilities|logits|embedding    (default: inferred from a test run)
  --normalized true|false   embedder output already L2-normalized (default: measured)
  --labels <file|a,b,c>     classifier labels: a file with one per line, or a comma list`;

/** Builds the error for a wrong flag; `option` names it (e.g. '--task'). */
type Invalid = (message: string, option: string) => Error;

/** The artifact folder and the describeExternalModel options the flags declare (onnxPath aside). */
export async function readDeclarations(
  v: DeclarationValues,
  invalid: Invalid,
): Promise<{ dir: string; options: Omit<DescribeExternalModelOptions, 'onnxPath'> }> {
  const name = required(v, 'name', invalid);
  const task = oneOf(v, 'task', TASKS, invalid, true) as Task;
  const licence = required(v, 'licence', invalid);

  const input: ExternalInputDeclaration = {};
  if (v['input-tensor']) input.tensor = v['input-tensor'];
  if (v.layout) input.layout = oneOf(v, 'layout', LAYOUTS, invalid) as ExternalInputDeclaration['layout'];
  if (v.height) input.height = int(v, 'height', invalid);
  if (v.width) input.width = int(v, 'width', invalid);
  if (v.color) input.color = oneOf(v, 'color', COLOR_ORDERS, invalid) as ExternalInputDeclaration['color'];
  if (v.scale) input.scale = numbers(v, 'scale', invalid)[0];
  if (v.mean) input.mean = numbers(v, 'mean', invalid);
  if (v.std) input.std = numbers(v, 'std', invalid);
  if (v.resize) input.resize = oneOf(v, 'resize', RESIZE_MODES, invalid) as ExternalInputDeclaration['resize'];
  const output: Partial<OutputSpec> = {};
  if (v['output-tensor']) output.tensor = v['output-tensor'];
  if (v.kind) output.kind = oneOf(v, 'kind', OUTPUT_KINDS, invalid) as OutputSpec['kind'];
  if (v.normalized) output.normalized = oneOf(v, 'normalized', ['true', 'false'], invalid) === 'true';
  let labels: string[] | undefined;
  if (v.labels) {
    const text = v.labels;
    labels = text.includes(',') ? text.split(',') : await readFile(text, 'utf8').then(
      (t) => t.split(/\r?\n/).filter((l) => l.trim() !== ''),
      () => [text],
    );
  }
  return { dir: join(v.models ?? 'models', name), options: { task, name, licence, version: v.version, input, output, labels } };
}

function required(v: DeclarationValues, key: keyof DeclarationValues, invalid: Invalid): string {
  const value = v[key];
  if (typeof value !== 'string' || value === '') throw invalid(`--${key} is required`, `--${key}`);
  return value;
}

function oneOf(v: DeclarationValues, key: keyof DeclarationValues, allowed: readonly string[], invalid: Invalid, need = false): string {
  const value = need ? required(v, key, invalid) : (v[key] as string);
  if (!allowed.includes(value)) throw invalid(`--${key}: expected one of ${allowed.join(', ')}, got "${value}"`, `--${key}`);
  return value;
}

function int(v: DeclarationValues, key: keyof DeclarationValues, invalid: Invalid): number {
  const text = v[key] as string;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw invalid(`--${key}: expected a positive integer, got "${text}"`, `--${key}`);
  return Number(text);
}

/** A number or a comma list of numbers. */
export function numbers(v: Record<string, string | boolean | undefined>, key: string, invalid: Invalid): number[] {
  const text = v[key] as string;
  const list = text.split(',').map(Number);
  if (list.some((n) => !Number.isFinite(n))) throw invalid(`--${key}: expected a number or a comma list of numbers, got "${text}"`, `--${key}`);
  return list;
}
