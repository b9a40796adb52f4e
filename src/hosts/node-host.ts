/**
 * Node and Bun as a host: package files and model paths read from disk, threads on node:worker_threads.
 * Imported for its effect by the package entry (node.ts) and by the command line, which imports only the
 * modules each command needs.
 */

import { createReadStream } from 'node:fs';
import { configureHost } from '../runtime/host.js';
import { overModelLimit, readCapped } from '../runtime/read-capped.js';
import { startWorkerThread } from './worker-threads.js';

configureHost({
  readLocalFile: (file, maxBytes) => {
    const stream = createReadStream(file);
    const chunks = stream[Symbol.asyncIterator]();
    return readCapped(async () => (await chunks.next()).value, maxBytes, overModelLimit(maxBytes), () => void stream.destroy());
  },
  startThread: () => startWorkerThread(),
});
