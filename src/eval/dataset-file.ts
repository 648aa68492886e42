// Reading a benchmark's text and JSON files, with a missing file reported as such.
import { readFile } from 'node:fs/promises';

import { hasCode } from '../errors.js';
import { EvalError } from './eval-error.js';

/** The file's text, or undefined when it does not exist (an optional file); other errors are thrown. */
export async function readOptionalText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (hasCode(err) && err.code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The file's text; DATASET_FILE_MISSING "<path> not found (<what>)" when it does not exist. */
export async function readDatasetText(path: string, what: string): Promise<string> {
  const text = await readOptionalText(path);
  if (text === undefined) throw new EvalError('DATASET_FILE_MISSING', `${path} not found (${what})`);
  return text;
}

/** JSON.parse, DATASET_FORMAT "<path> is not JSON" when it fails. */
export function parseDatasetJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EvalError('DATASET_FORMAT', `${path} is not JSON`, { cause: err });
  }
}
