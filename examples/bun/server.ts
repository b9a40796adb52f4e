/**
 * GoogLeNet image classification over HTTP on Bun: googlenet-wasm's createHandler behind Bun.serve.
 *
 *   npx bun examples/bun/server.ts   # in this repository
 *   curl --data-binary @examples/images/7-sneaker.png -H 'content-type: image/png' http://127.0.0.1:8080/classify
 *
 * In your own project, `bun add googlenet-wasm` and the same import works; in this checkout it resolves to the
 * package itself (package.json's "bun" export).
 * Environment: PORT (default 8080; 0 picks a free port), HOST (default 127.0.0.1), GOOGLENET_MODEL (a model or
 * ONNX file; default: the embedded Fashion-MNIST model).
 */

import { createHandler, loadModel } from 'googlenet-wasm';

const modelPath = process.env.GOOGLENET_MODEL;
const model = await loadModel(modelPath);
const modelName = modelPath?.replace(/^.*\//, '').replace(/\.[^.]+$/, ''); // answers name the file, else 'googlenet'

const server = Bun.serve({
  port: Number(process.env.PORT ?? 8080),
  hostname: process.env.HOST ?? '127.0.0.1',
  fetch: createHandler(model, { modelName }),
});
console.log(`googlenet: serving on Bun at ${server.url}`);
