/**
 * The package on Deno: the universal core, with package files and model paths read by Deno's own file API, and
 * threads.
 */

import { configureHost } from '../runtime/host.js';
import { overModelLimit, readStreamCapped } from '../runtime/read-capped.js';
import { startWorkerThread } from './worker-threads.js';

declare const Deno: { open(file: string | URL): Promise<{ readable: ReadableStream<Uint8Array> }> };

configureHost({
  readLocalFile: async (file, maxBytes) => readStreamCapped((await Deno.open(file)).readable, maxBytes, overModelLimit(maxBytes)),
  startThread: () => startWorkerThread(),
});

export * from '../index.js';
