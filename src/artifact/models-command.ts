// `protoserve models`: list and check the artifacts of a models folder, or import an ONNX
// model protoserve did not train (writes its manifest; see docs/serving-your-own-model.md).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { hasCode, messageOf } from '../errors.js';
import { ArtifactError } from './artifact-error.js';
import { importExternalModel, type ExternalInputDeclaration } from './describe-external-model.js';
import { COLOR_ORDERS, LAYOUTS, OUTPUT_KINDS, RESIZE_MODES, TASKS, type OutputSpec, type Task } from './manifest.js';
import { listArtifacts } from './registry.js';

export const MODELS_USAGE = `Usage:
  protoserve models [--models <dir>] [--json]
      list the artifacts in a models folder, checking manifests and model hashes
      (exit code 1 when any is broken)
  protoserve models import <model.onnx> --name <name> --task classifier|embedder --licence <licence> [options]
      copy an ONNX model you bring into <models>/<name>/ with a manifest read from the graph

Import options (what the graph cannot say; see docs/serving-your-own-model.md):
  --models <dir>            models folder (default ./models)
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

export async function modelsCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'import') return importCommand(argv.slice(1));
  const { values } = parse(argv, { models: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, false);
  if (values.help) {
    console.log(MODELS_USAGE);
    return 0;
  }
  const listing = await listArtifacts((values.models as string | undefined) ?? 'models');
  if (values.json) {
    console.log(JSON.stringify({ modelsDir: listing.modelsDir, models: listing.artifacts.map((a) => ({ dir: a.dir, ...a.manifest })), broken: listing.broken }, null, 2));
  } else {
    console.log(`${listing.modelsDir}: ${listing.artifacts.length} model(s), ${listing.broken.length} broken`);
    for (const { manifest: m } of listing.artifacts) {
      const size = `${m.input.width}x${m.input.height}x${m.input.channels} ${m.input.color}`;
      const extra = m.task === 'classifier' ? `${m.labels?.length} labels` : `dim ${m.output.dimension}${m.operatingPoints?.length ? `, ${m.operatingPoints.length} operating points` : ''}`;
      console.log(`  ok      ${m.name} ${m.version}  ${m.task}  ${size} -> ${extra}  sha256 ${m.sha256.slice(0, 12)}`);
    }
    for (const b of listing.broken) console.log(`  broken  ${b.dir}  ${b.code}: ${b.message}`);
  }
  return listing.broken.length > 0 ? 1 : 0;
}

async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
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
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  const v = values as Record<string, string | boolean | undefined>;
  if (v.help) {
    console.log(MODELS_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw invalid('import takes one ONNX file', 'model.onnx');
  const name = required(v, 'name');
  const task = oneOf(v, 'task', TASKS, true) as Task;
  const licence = required(v, 'licence');

  const input: ExternalInputDeclaration = {};
  if (v['input-tensor']) input.tensor = v['input-tensor'] as string;
  if (v.layout) input.layout = oneOf(v, 'layout', LAYOUTS) as ExternalInputDeclaration['layout'];
  if (v.height) input.height = int(v, 'height');
  if (v.width) input.width = int(v, 'width');
  if (v.color) input.color = oneOf(v, 'color', COLOR_ORDERS) as ExternalInputDeclaration['color'];
  if (v.scale) input.scale = numbers(v, 'scale')[0];
  if (v.mean) input.mean = numbers(v, 'mean');
  if (v.std) input.std = numbers(v, 'std');
  if (v.resize) input.resize = oneOf(v, 'resize', RESIZE_MODES) as ExternalInputDeclaration['resize'];
  const output: Partial<OutputSpec> = {};
  if (v['output-tensor']) output.tensor = v['output-tensor'] as string;
  if (v.kind) output.kind = oneOf(v, 'kind', OUTPUT_KINDS) as OutputSpec['kind'];
  if (v.normalized) output.normalized = oneOf(v, 'normalized', ['true', 'false']) === 'true';
  let labels: string[] | undefined;
  if (v.labels) {
    const text = v.labels as string;
    labels = text.includes(',') ? text.split(',') : await readFile(text, 'utf8').then(
      (t) => t.split(/\r?\n/).filter((l) => l.trim() !== ''),
      () => [text],
    );
  }

  const dir = join((v.models as string | undefined) ?? 'models', name);
  const written = await importExternalModel(dir, { onnxPath: positionals[0], task, name, licence, version: v.version as string | undefined, input, output, labels });
  console.log(`wrote ${written.manifestPath}`);
  for (const note of written.notes) console.log(`  ${note}`);
  console.log('Check the assumed fields above against your model\'s documentation before serving it.');
  return 0;
}

function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>, allowPositionals: boolean) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    // node:util parseArgs: ERR_PARSE_ARGS_UNKNOWN_OPTION, _INVALID_OPTION_VALUE, _UNEXPECTED_POSITIONAL.
    throw invalid(messageOf(err), hasCode(err) ? err.code : 'arguments');
  }
}

function required(v: Record<string, unknown>, key: string): string {
  const value = v[key];
  if (typeof value !== 'string' || value === '') throw invalid(`--${key} is required`, `--${key}`);
  return value;
}

function oneOf(v: Record<string, unknown>, key: string, allowed: readonly string[], need = false): string {
  const value = need ? required(v, key) : (v[key] as string);
  if (!allowed.includes(value)) throw invalid(`--${key}: expected one of ${allowed.join(', ')}, got "${value}"`, `--${key}`);
  return value;
}

function int(v: Record<string, unknown>, key: string): number {
  const text = v[key] as string;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw invalid(`--${key}: expected a positive integer, got "${text}"`, `--${key}`);
  return Number(text);
}

function numbers(v: Record<string, unknown>, key: string): number[] {
  const text = v[key] as string;
  const list = text.split(',').map(Number);
  if (list.some((n) => !Number.isFinite(n))) throw invalid(`--${key}: expected a number or a comma list of numbers, got "${text}"`, `--${key}`);
  return list;
}

/** INVALID_ARGUMENT; details.option names the option (or what is wrong: 'model.onnx', a parseArgs code). */
function invalid(message: string, option: string): ArtifactError {
  return new ArtifactError('INVALID_ARGUMENT', `models: ${message}. Run \`protoserve models --help\`.`, { details: { option } });
}
