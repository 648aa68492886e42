// `protoserve import-tfjs <model.json>`: a TensorFlow.js graph model becomes a parity-checked
// ONNX artifact (models/<name>/model.onnx + manifest.json).
import { parseArgs } from 'node:util';

import { DECLARATION_HELP, DECLARATION_OPTIONS, numbers, readDeclarations, type DeclarationValues } from '../artifact/declaration-flags.js';
import { FACE_INPUTS, type FaceSpec } from '../artifact/manifest.js';
import { ProtoserveError, messageOf } from '../errors.js';
import { resolveTrainingBackend } from '../train/backends/index.js';
import { SUPPORTED_OPS } from './tfjs/lower-graph-model.js';
import { importTfjsModel, BLAZEFACE_DEFAULTS } from './tfjs/import-tfjs.js';

export const IMPORT_TFJS_USAGE = `Usage: protoserve import-tfjs <model.json> --name <name> --task classifier|embedder|detector --licence <licence> [options]

Converts a TensorFlow.js graph model (model.json and its weight shards) to ONNX, runs both
onnxruntime and TensorFlow.js on the same inputs, refuses the model when they differ by more than
1e-4 relative to the output's scale, and writes <models>/<name>/model.onnx + manifest.json.
Ops outside this list are refused with the op's name and the node using it:
  ${SUPPORTED_OPS.join(', ')}

Options (what the graph cannot say):
${DECLARATION_HELP}
  --source <text>           where the weights come from (recorded in provenance)
  --backend NAME            TensorFlow.js backend of the reference run (default: best available)
Detectors (--task detector; MediaPipe BlazeFace graphs):
  --score-threshold <p>     drop faces scoring below p (default ${BLAZEFACE_DEFAULTS.scoreThreshold})
  --iou-threshold <x>       merge detections overlapping by more than x (default ${BLAZEFACE_DEFAULTS.iouThreshold})
Face embedders (--task embedder):
  --face-input photo|aligned  what /embed and /verify receive by default (photo: faces are detected and aligned first)
  --face-detector <name>      the detector model for whole photos (default: the only one served)
  --template-scale <s>        alignment template scale about the crop centre (default 1: ArcFace's crop)`;

export async function importTfjsCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        ...DECLARATION_OPTIONS,
        source: { type: 'string' },
        backend: { type: 'string' },
        'score-threshold': { type: 'string' },
        'iou-threshold': { type: 'string' },
        'face-input': { type: 'string' },
        'face-detector': { type: 'string' },
        'template-scale': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw invalid(messageOf(err));
  }
  const v = parsed.values;
  if (v.help) {
    console.log(IMPORT_TFJS_USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) throw invalid('give one model.json', 'model.json');
  const { dir, options } = await readDeclarations(v as DeclarationValues, invalid);
  const flag = (key: string) => (v[key as keyof typeof v] === undefined ? undefined : numbers(v, key, invalid)[0]);
  let face: FaceSpec | undefined;
  if (v['face-input'] !== undefined || v['face-detector'] !== undefined || v['template-scale'] !== undefined) {
    const input = v['face-input'] ?? 'aligned';
    if (!(FACE_INPUTS as readonly string[]).includes(input)) throw invalid(`--face-input: expected one of ${FACE_INPUTS.join(', ')}, got "${input}"`, '--face-input');
    face = { input: input as FaceSpec['input'], ...(v['face-detector'] ? { detector: v['face-detector'] } : {}), ...(v['template-scale'] ? { templateScale: flag('template-scale') } : {}) };
  }
  const backend = await resolveTrainingBackend({ backend: v.backend });
  const result = await importTfjsModel(dir, parsed.positionals[0], {
    ...options,
    face,
    provenance: v.source ? { source: v.source } : undefined,
    detector: {
      ...(v['score-threshold'] !== undefined ? { scoreThreshold: flag('score-threshold') } : {}),
      ...(v['iou-threshold'] !== undefined ? { iouThreshold: flag('iou-threshold') } : {}),
    },
  });
  const p = result.parity;
  console.log(`parity: max abs diff ${p.maxAbsDiff.toExponential(2)}, relative ${p.relative.toExponential(2)} (tolerance ${p.tolerance}) over ${p.samples} inputs, reference on ${backend.name}`);
  for (const o of p.outputs) console.log(`  ${o.name}: max abs diff ${o.maxAbsDiff.toExponential(2)}, relative ${o.relative.toExponential(2)}`);
  console.log(`wrote ${result.written.modelPath} (sha256 ${result.written.manifest.sha256.slice(0, 12)}...) and ${result.written.manifestPath}`);
  for (const note of result.notes) console.log(`  ${note}`);
  return 0;
}

/** INVALID_ARGUMENT; details.option names the flag (or what is wrong). */
function invalid(message: string, option = 'arguments'): ProtoserveError {
  return new ProtoserveError('INVALID_ARGUMENT', `import-tfjs: ${message}. Run \`protoserve import-tfjs --help\`.`, { details: { option } });
}
