import { readFile, writeFile } from 'node:fs/promises';
import { GoogLeNetError } from '../errors.js';

/**
 * A file the user named; a missing or unreadable one is a one-line error. A plain Uint8Array over the Buffer's
 * memory, not a copy: model files are megabytes, and every copy shows in the command's peak memory.
 */
export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    throw new GoogLeNetError(`cannot read ${path}: ${describeError(error, 'no such file')}`);
  }
}

/** Writes a file the user named; a missing folder or a read-only place is a one-line error. */
export async function writeUserFile(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(path, bytes);
  } catch (error) {
    throw new GoogLeNetError(`cannot write ${path}: ${describeError(error, 'no such folder')}`);
  }
}

/** ENOENT in words: `missing` says what is missing (reading: the file; writing: its folder). */
function describeError(error: unknown, missing: string): string {
  return (error as NodeJS.ErrnoException).code === 'ENOENT' ? missing : (error as Error).message;
}
