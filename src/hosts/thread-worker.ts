/** The script of each extra thread on Node, Bun and Deno (worker-threads.ts starts it). */

import { parentPort } from 'node:worker_threads';
import { serveThread } from '../runtime/threads.js';

const port = parentPort!;
port.once('message', (message) => serveThread(message, (reply) => port.postMessage(reply)));
