/**
 * GoogLeNet image classification over HTTP on Deno: googlenet-wasm's createHandler behind Deno.serve.
 *
 *   npx deno run --allow-read=. --allow-net=127.0.0.1 --allow-env examples/deno/server.ts   # in this repository
 *   curl --data-binary @examples/images/7-sneaker.png -H 'content-type: image/png' http://127.0.0.1:8080/classify
 *
 * In your own project, `deno add npm:googlenet-wasm` makes the import below resolve to the package (or import from
 * 'npm:googlenet-wasm'); in this checkout it resolves to the package itself (package.json's "deno" export).
 * Environment: PORT (default 8080; 0 picks a free port), HOST (default 127.0.0.1), GOOGLENET_MODEL (a model or
 * ONNX file; default: the embedded Fashion-MNIST model).
 */

import { createHandler, loadModel } from 'googlenet-wasm';

const port = Number(Deno.env.get('PORT') ?? 8080);
const hostname = Deno.env.get('HOST') ?? '127.0.0.1';
const modelPath = Deno.env.get('GOOGLENET_MODEL');

const model = await loadModel(modelPath);
const modelName = modelPath?.replace(/^.*\//, '').replace(/\.[^.]+$/, ''); // answers name the file, else 'googlenet'
const handler = createHandler(model, { modelName });

Deno.serve({
  port,
  hostname,
  onListen: (address) => console.log(`googlenet: serving on Deno at http://${address.hostname}:${address.port}/`),
}, handler);
