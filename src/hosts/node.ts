/** The package on Node and Bun: the universal core, with package files and model paths read from disk. */

import { readFile } from 'node:fs/promises';
import { configureHost } from '../runtime/host.js';

configureHost({ readLocalFile: async (file) => new Uint8Array(await readFile(file)) });

export * from '../index.js';
