// Writes a file so that readers see either the old content or the new, never half of it:
// write a temporary file in the same folder, flush it to disk, then rename it over the target
// (rename is atomic within one filesystem on POSIX), and flush the folder so the rename itself
// survives a power loss.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** `mode`: the new file's permissions (default 0o666 less the umask), e.g. 0o600 for secrets. */
export async function atomicWriteFile(path: string, data: Uint8Array | string, mode?: number): Promise<void> {
  // A dot-prefixed name so that a registry scan never mistakes it for an artifact file.
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await fsyncDir(path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Flushes the folder holding `path` (its entries: a created, renamed or removed name). */
export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(dirname(path), 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
