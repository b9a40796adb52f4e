/**
 * The package on Deno: the universal core, with package files and model paths read by Deno's own file API, and
 * threads.
 */

import { configureHost } from '../runtime/host.js';
import { overModelLimit, readSizedFile, readStreamCapped } from '../runtime/read-capped.js';
import { startWorkerThread } from './worker-threads.js';

interface DenoFile {
  readable: ReadableStream<Uint8Array>;
  stat(): Promise<{ isFile: boolean; size: number }>;
  read(into: Uint8Array): Promise<number | null>;
  close(): void;
}
declare const Deno: { open(file: string | URL): Promise<DenoFile>; readFileSync(file: URL): Uint8Array<ArrayBuffer> };

configureHost({
  readLocalFile: async (file, maxBytes) => {
    const opened = await Deno.open(file);
    const { isFile, size } = await opened.stat();
    // A regular file is read straight into memory of its size; pipes, devices and files that report no size
    // (as /proc's do) stream in to their end. (The stream closes the file; the direct read closes it here.)
    if (!isFile || size === 0) return readStreamCapped(opened.readable, maxBytes, overModelLimit(maxBytes));
    try {
      if (size > maxBytes) throw overModelLimit(maxBytes)();
      return await readSizedFile(size, (into) => opened.read(into));
    } finally {
      opened.close();
    }
  },
  readPackageFile: (url) => Deno.readFileSync(url),
  compilesSynchronously: true,
  startThread: () => startWorkerThread(),
});

export * from '../index.js';
