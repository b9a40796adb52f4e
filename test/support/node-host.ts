/**
 * Tests import the core from src/ directly; in Node the package's `node` entry installs the file reader that
 * loads the kernel builds and the default model, so every test file starts by loading it. Threads run the built
 * worker script (dist/, which `npm test` builds first): a worker thread cannot load TypeScript.
 */
import { startWorkerThread } from '../../src/hosts/worker-threads.js';
import { configureHost, host } from '../../src/runtime/host.js';
import '../../src/hosts/node-host.js';

configureHost({ ...host(), startThread: () => startWorkerThread(new URL('../../dist/hosts/thread-worker.js', import.meta.url)) });
