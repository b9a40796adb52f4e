import { open, readFile, writeFile } from 'node:fs/promises';
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

/** ES2024's resizable ArrayBuffer, which the ES2022 typings do not know. */
type ResizableArrayBufferConstructor = new (length: number, options: { maxByteLength: number }) => ArrayBuffer & { resize(length: number): void };

/**
 * readUserFile() into memory that release() hands back at once (a resizable ArrayBuffer shrunk to nothing),
 * rather than whenever the garbage collector gets to it: a model file's bytes are needed only while loading.
 * Pipes and devices, which have no size to allocate for, are read as readUserFile() reads them.
 */
export async function readReleasableFile(path: string): Promise<{ bytes: Uint8Array; release(): void }> {
  let handle;
  try {
    handle = await open(path);
    const { size } = await handle.stat();
    if (size > 0) {
      const buffer = new (ArrayBuffer as unknown as ResizableArrayBufferConstructor)(size, { maxByteLength: size });
      const bytes = new Uint8Array(buffer);
      for (let filled = 0; filled < size;) {
        const { bytesRead } = await handle.read(bytes, filled, size - filled, filled);
        if (bytesRead === 0) throw new Error(`it ended at byte ${filled} of ${size} while being read`);
        filled += bytesRead;
      }
      return { bytes, release: () => buffer.resize(0) };
    }
  } catch (error) {
    throw new GoogLeNetError(`cannot read ${path}: ${describeError(error, 'no such file')}`);
  } finally {
    await handle?.close();
  }
  return { bytes: await readUserFile(path), release: () => {} };
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
