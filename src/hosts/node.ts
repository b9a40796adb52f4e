/**
 * The package on Node and Bun: the universal core, with package files and model paths read from disk, and
 * threads (node-host.ts).
 */

import './node-host.js';

export * from '../index.js';
