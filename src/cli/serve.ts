/** `googlenet serve`: the HTTP handler (src/serve/handler.ts) on a node:http server. */

import { createServer, type Server } from 'node:http';
import { basename, extname } from 'node:path';
import { GoogLeNetError } from '../errors.js';
import { loadModel, type LoadOptions } from '../runtime/load.js';
import { createHandler, DEFAULT_MAX_BODY_BYTES } from '../serve/handler.js';
import { parseInteger } from './errors.js';
import { LOAD_OPTIONS } from './load-options.js';
import { nodeListener } from './node-http.js';

export const SERVE_HELP = `googlenet serve [--port 8080] [--host 127.0.0.1] [--model FILE] [--max-body BYTES] [--variant V] [--precision P]

Serves the model over HTTP and prints its URL once listening. Without --model it serves the default
model, the seed GoogLeNet trained on Fashion-MNIST.

  POST /classify   an image/png or image/jpeg body, or multipart/form-data with an "image" file field;
                   ?top=K classes (default 5) → {"predictions":[{"label","index","probability"}],"model","precision","ms"}
  GET /            the model: name, precision, kernel build, threads, inputs, outputs, labels, limits
  GET /healthz     {"status":"ok"}
Errors are JSON {"error": "…"}: 400 bad image or ?top, 404, 405, 413 body too large, 415 not an image type.

  --port N           0 picks a free port (default 8080)
  --host H           the address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --model FILE       an ONNX file or a model file written by convert; answers name it by its file name
  --max-body BYTES   the largest request body (default ${DEFAULT_MAX_BODY_BYTES}, 5 MiB)
  --variant V, --precision P, --threads N   as for infer

Ctrl-C (SIGINT) or SIGTERM stops it after the requests in flight are answered.`;

export const SERVE_OPTIONS = {
  port: { type: 'string', default: '8080' },
  host: { type: 'string', default: '127.0.0.1' },
  model: { type: 'string' },
  'max-body': { type: 'string' },
  ...LOAD_OPTIONS,
} as const;

/** How long requests in flight get to finish after a stop signal before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface ServeFlags {
  port: string;
  host: string;
  model?: string;
  'max-body'?: string;
}

/** Loads the model, listens, prints the URL, and resolves once a signal has stopped the server. */
export async function serve(flags: ServeFlags, options: LoadOptions): Promise<void> {
  const port = parseInteger('--port', flags.port, 0, 65535);
  const maxBodyBytes = flags['max-body'] === undefined ? undefined : parseInteger('--max-body', flags['max-body'], 1, Number.MAX_SAFE_INTEGER);
  const model = await loadModel(flags.model, options);
  const modelName = flags.model === undefined ? undefined : basename(flags.model, extname(flags.model));
  const handler = createHandler(model, { modelName, maxBodyBytes });

  const server = createServer();
  const address = await listen(server, port, flags.host);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const origin = `http://${host}:${address.port}`;
  const listener = nodeListener(handler, origin);
  server.on('request', listener).on('checkContinue', listener);
  server.on('error', (error) => console.error(`googlenet: server error: ${error.message}`)); // keep serving
  console.log(`googlenet: serving ${modelName ?? 'the default model'} (${model.info.precision}, ${model.info.variant}${model.info.threads > 1 ? `, ${model.info.threads} threads` : ''}) at ${origin}/`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
  console.log('googlenet: stopped');
}

function listen(server: Server, port: number, host: string) {
  return new Promise<{ address: string; family: string; port: number }>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new GoogLeNetError(`cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`));
    });
    server.listen(port, host, () => resolve(server.address() as { address: string; family: string; port: number }));
  });
}

