/** The package on Deno: the universal core, with package files and model paths read by Deno's own file API. */

import { configureHost } from '../runtime/host.js';

declare const Deno: { readFile(file: string | URL): Promise<Uint8Array<ArrayBuffer>> };

configureHost({ readLocalFile: (file) => Deno.readFile(file) });

export * from '../index.js';
