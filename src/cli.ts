#!/usr/bin/env node
// protoserve: one entry point, one subcommand per job. Subcommands load lazily, so `serve`
// never pulls in TensorFlow.js and `train` never starts onnxruntime sessions it does not need.
// A failure prints `CODE: message` and exits with its class's status (src/error-registry.ts).
import { exitStatusHelp } from './error-registry.js';
import { reportCliError } from './cli-report.js';

type Command = { summary: string; run: (argv: string[]) => Promise<number | void> };

const COMMANDS: Record<string, Command> = {
  train: {
    summary: 'train a classifier (MNIST, Fashion-MNIST) with TensorFlow.js',
    run: async (argv) => (await import('./train/train-command.js')).trainCommand(argv),
  },
  export: {
    summary: 'export a training run to an ONNX model artifact (parity-checked)',
    run: async (argv) => (await import('./export/export-command.js')).exportCommand(argv),
  },
  'import-tfjs': {
    summary: 'convert a TensorFlow.js graph model to an ONNX artifact (parity-checked)',
    run: async (argv) => (await import('./export/import-tfjs-command.js')).importTfjsCommand(argv),
  },
  serve: {
    summary: 'serve every model artifact over HTTP (what `npm start` runs)',
    run: async (argv) => (await import('./server/serve-command.js')).serveCommand(argv),
  },
  eval: {
    summary: 'evaluate an embedder on LFW, IJB-C (1:1, 1:N) or MegaFace',
    run: async (argv) => (await import('./eval/eval-command.js')).evalCommand(argv),
  },
  gallery: {
    summary: 'create galleries, enrol a folder of faces, export and import galleries and seeds',
    run: async (argv) => (await import('./gallery/gallery-command.js')).galleryCommand(argv),
  },
  keys: {
    summary: 'create, list and revoke API keys (hashed in the key file)',
    run: async (argv) => (await import('./server/auth/keys-command.js')).keysCommand(argv),
  },
  models: {
    summary: 'list the model artifacts in a models folder and check them',
    run: async (argv) => (await import('./artifact/models-command.js')).modelsCommand(argv),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'Usage: protoserve <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `protoserve <command> --help` for the options of one command.',
    '',
    'Exit status (a failure prints `CODE: message` on stderr):',
    exitStatusHelp(),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    const what = name === undefined ? 'no command given' : `unknown command "${name}"`;
    console.error(`UNKNOWN_COMMAND: ${what}. Should be one of: ${Object.keys(COMMANDS).join(', ')}\n`);
    console.error(usage());
    return 2;
  }
  const code = await command.run(rest);
  return typeof code === 'number' ? code : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve keeps the event loop alive by itself; other commands end here.
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    const failure = reportCliError(err);
    console.error(failure.text);
    process.exitCode = failure.exitStatus;
  },
);
