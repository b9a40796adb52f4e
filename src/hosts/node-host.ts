/**
 * Node and Bun as a host: package files and model paths read from disk (kernel builds synchronously), threads on
 * node:worker_threads.
 * Imported for its effect by the package entry (node.ts) and by the command line, which imports only the
 * modules each command needs.
 */

import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { configureHost } from '../runtime/host.js';
import { overModelLimit, readCapped, readSizedFile } from '../runtime/read-capped.js';
import { startWorkerThread } from './worker-threads.js';

configureHost({
  readLocalFile: async (file, maxBytes) => {
    const handle = await open(file);
    try {
      const stats = await handle.stat();
      // A regular file is read straight into memory of its size; pipes, devices and files that report no size
      // (as /proc's do) stream in to their end.
      if (!stats.isFile() || stats.size === 0) {
        const stream = handle.createReadStream({ autoClose: false });
        const chunks = stream[Symbol.asyncIterator]();
        return await readCapped(async () => (await chunks.next()).value, maxBytes, overModelLimit(maxBytes), () => void stream.destroy());
      }
      if (stats.size > maxBytes) throw overModelLimit(maxBytes)();
      return await readSizedFile(stats.size, async (into, offset) => (await handle.read(into, 0, into.length, offset)).bytesRead);
    } finally {
      await handle.close();
    }
  },
  readPackageFile: (url) => {
    const bytes = readFileSync(url);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  },
  compilesSynchronously: true,
  startThread: () => startWorkerThread(),
});
