// Cold start: a fresh process per trial, timing module import, model load and the first inference, then the
// median of a few warm inferences — ours from the int8 model file and from the ONNX file (f32), and
// onnxruntime-web (session creation, first run) on the same ONNX file. Our load is also timed step by step, in
// trials of their own that take loadModel()'s steps one at a time (src/runtime/load.ts). Runs under Node, Deno or
// Bun (each trial in a child process of the same runtime); `npm run bench` runs it in all three. Writes
// bench/results/cold-<runtime>.json for bench/report.js.
// Options: --trials N (default 5), --quick (2 trials, writes nothing).

import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DIMS, ensureInt8Model, INT8, median, ONNX, root, seededInput } from './googlenet-224.js';
import { currentRuntime } from './runtime.js';

const { values } = parseArgs({
  options: { trials: { type: 'string' }, quick: { type: 'boolean' }, trial: { type: 'string' }, model: { type: 'string' } },
});
const WARM_RUNS = 5;

/** One trial in this (fresh) process: prints its timings as JSON. */
async function trial(which, modelPath) {
  const started = performance.now();
  const bytes = new Uint8Array(await readFile(modelPath));
  const input = seededInput();
  const timings = { read: performance.now() - started };
  let infer;
  if (which === 'onnxruntime-web') {
    const ortWeb = await import('onnxruntime-web');
    ortWeb.env.wasm.numThreads = 1;
    timings.import = performance.now() - started - timings.read;
    const loadStart = performance.now();
    const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    timings.load = performance.now() - loadStart;
    const feeds = { [session.inputNames[0]]: new ortWeb.Tensor('float32', input, DIMS) };
    infer = () => session.run(feeds);
  } else if (which === 'ours, step by step') {
    const model = await loadStepByStep(bytes, timings);
    infer = () => model.run(input, DIMS);
  } else {
    const { loadModel } = await import('googlenet-wasm');
    timings.import = performance.now() - started - timings.read;
    const loadStart = performance.now();
    const model = await loadModel(bytes);
    timings.load = performance.now() - loadStart;
    infer = () => model.run(input, DIMS);
  }
  const firstStart = performance.now();
  await infer();
  timings.first = performance.now() - firstStart;
  const warm = [];
  for (let run = 0; run < WARM_RUNS; run++) {
    const start = performance.now();
    await infer();
    warm.push(performance.now() - start);
  }
  timings.warm = median(warm);
  console.log(JSON.stringify(timings));
}

/**
 * loadModel(bytes)'s steps one at a time (src/runtime/load.ts), each timed into `timings`: the kernels (reading,
 * compiling, instantiating and self-testing a build), decoding the file (for ONNX, importing the importer too)
 * and checking the graph, the kernels' warm-up, and the weights (the Model laying out its memory, unpacking and
 * packing them).
 */
async function loadStepByStep(bytes, timings) {
  const { decodeModelFile, isModelFile, Model } = await import('googlenet-wasm');
  const { loadKernels } = await import('../dist/runtime/kernels.js');
  const { checkModelGraph, resolveModelLimits } = await import('../dist/runtime/limits.js');
  const { warmUpKernels } = await import('../dist/runtime/warm-up.js');
  const step = async (name, run) => {
    const start = performance.now();
    const result = await run();
    timings[name] = performance.now() - start;
    return result;
  };
  const kernels = await step('kernels', () => loadKernels());
  const { graph, metadata } = await step('decode', async () => {
    let decoded;
    if (isModelFile(bytes)) {
      const { graph, ...metadata } = decodeModelFile(bytes, { viewWeights: true });
      decoded = { graph, metadata };
    } else {
      const { importOnnx } = await import('../dist/onnx/import.js');
      decoded = { graph: importOnnx(bytes, { viewWeights: true }) };
    }
    checkModelGraph(decoded.graph, resolveModelLimits());
    return decoded;
  });
  const precision = metadata?.weights === 'int8' ? 'int8' : 'f32';
  await step('warmUp', () => warmUpKernels(kernels, precision));
  return step('weights', () => new Model(graph, kernels, { precision, activationRanges: metadata?.activationRanges }, metadata));
}

if (values.trial) {
  await trial(values.trial, values.model);
} else {
  const { runtime, version, scriptArgs: args } = currentRuntime();
  ensureInt8Model(args);
  const trials = values.quick ? 2 : Number(values.trials ?? 5);
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`--trials must be a positive integer, not ${values.trials}`);
  const setups = [
    { name: 'ours, int8 model file', which: 'ours', model: INT8 },
    { name: 'ours, ONNX (f32)', which: 'ours', model: ONNX },
    { name: 'onnxruntime-web, ONNX (f32)', which: 'onnxruntime-web', model: ONNX },
    { name: 'ours, int8 model file, step by step', which: 'ours, step by step', model: INT8 },
    { name: 'ours, ONNX (f32), step by step', which: 'ours, step by step', model: ONNX },
  ];
  const rows = [];
  for (const setup of setups) {
    const results = [];
    for (let i = 0; i < trials; i++) {
      const child = spawnSync(process.execPath, [...args, fileURLToPath(import.meta.url), '--trial', setup.which, '--model', setup.model], { cwd: root, encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`${setup.name} trial failed: ${child.stderr}`);
      results.push(JSON.parse(child.stdout.trim().split('\n').at(-1)));
    }
    const row = { name: setup.name };
    for (const key of Object.keys(results[0])) row[key] = median(results.map((r) => r[key]));
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  if (!values.quick) {
    const folder = new URL('results/', import.meta.url);
    await mkdir(folder, { recursive: true });
    const report = { runtime, version, date: new Date().toISOString().slice(0, 10), trials, graph: 'torchvision-googlenet.onnx (224²)', rows };
    await writeFile(new URL(`cold-${runtime}.json`, folder), JSON.stringify(report, null, 1) + '\n');
  }
}
