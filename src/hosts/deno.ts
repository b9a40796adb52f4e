/** The package on Deno: the universal core, with package files and model paths read by Deno's own file API. */

import { configureHost } from '../runtime/host.js';
import { overModelLimit, readStreamCapped } from '../runtime/read-capped.js';

declare const Deno: { open(file: string | URL): Promise<{ readable: ReadableStream<Uint8Array> }> };

configureHost({ readLocalFile: async (file, maxBytes) => readStreamCapped((await Deno.open(file)).readable, maxBytes, overModelLimit(maxBytes)) });

export * from '../index.js';
