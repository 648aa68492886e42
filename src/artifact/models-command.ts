// `protoserve models`: list and check the artifacts of a models folder, or import an ONNX
// model protoserve did not train (writes its manifest; see docs/serving-your-own-model.md).
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { hasCode, messageOf } from '../errors.js';
import { ArtifactError } from './artifact-error.js';
import { DECLARATION_HELP, DECLARATION_OPTIONS, readDeclarations, type DeclarationValues } from './declaration-flags.js';
import { importExternalModel } from './describe-external-model.js';
import { listArtifacts } from './registry.js';

export const MODELS_USAGE = `Usage:
  protoserve models [--models <dir>] [--json]
      list the artifacts in a models folder, checking manifests and model hashes
      (exit code 1 when any is broken)
  protoserve models import <model.onnx> --name <name> --task classifier|embedder --licence <licence> [options]
      copy an ONNX model you bring into <models>/<name>/ with a manifest read from the graph

Import options (what the graph cannot say; see docs/serving-your-own-model.md):
${DECLARATION_HELP}`;

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
  const { values, positionals } = parse(argv, { ...DECLARATION_OPTIONS, help: { type: 'boolean', short: 'h' } }, true);
  const v = values as DeclarationValues & { help?: boolean };
  if (v.help) {
    console.log(MODELS_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw invalid('import takes one ONNX file', 'model.onnx');
  const d = await readDeclarations(v, invalid);
  const written = await importExternalModel(d.dir, { onnxPath: positionals[0], ...d.options });
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

/** INVALID_ARGUMENT; details.option names the option (or what is wrong: 'model.onnx', a parseArgs code). */
function invalid(message: string, option: string): ArtifactError {
  return new ArtifactError('INVALID_ARGUMENT', `models: ${message}. Run \`protoserve models --help\`.`, { details: { option } });
}
