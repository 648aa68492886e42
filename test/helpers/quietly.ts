// Runs a command function with its progress lines (stderr) silenced, for tests that drive the CLI.
export async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await f();
  } finally {
    process.stderr.write = write;
  }
}
