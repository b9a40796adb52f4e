/**
 * The package on Node and Bun: the universal core, with package files and model paths read from disk, and
 * threads.
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

export * from '../index.js';
