// Cold start: a fresh process per trial, timing module import, model load and the first inference, then the
// median of a few warm inferences — ours from the int8 model file and from the ONNX file (f32), and
// onnxruntime-web (session creation, first run) on the same ONNX file — for each network of bench/networks.js.
// Our load is also timed step by step, in trials of their own that take loadModel()'s steps one at a time
// (src/runtime/load.ts). Runs under Node, Deno or Bun (each trial in a child process of the same runtime);
// `npm run bench` runs it in all three. Writes bench/results/cold-<runtime>.json for bench/report.js.
// Options: --trials N (default 9), --quick (2 trials, writes nothing).

import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureInt8Model, median, NETWORKS, root, seededInput } from './networks.js';
import { currentRuntime } from './runtime.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string' }, quick: { type: 'boolean' }, trial: { type: 'string' }, model: { type: 'string' }, dims: { type: 'string' },
  },
});
const WARM_RUNS = 5;

/** One trial in this (fresh) process on input dims `dims`: prints its timings as JSON. */
async function trial(which, modelPath, dims) {
  const started = performance.now();
  const bytes = new Uint8Array(await readFile(modelPath));
  const input = seededInput(dims);
  const timings = { read: performance.now() - started };
  let infer;
  if (which === 'onnxruntime-web') {
    const ortWeb = await import('onnxruntime-web');
    ortWeb.env.wasm.numThreads = 1;
    timings.import = performance.now() - started - timings.read;
    const loadStart = performance.now();
    const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    timings.load = performance.now() - loadStart;
    const feeds = { [session.inputNames[0]]: new ortWeb.Tensor('float32', input, dims) };
    infer = () => session.run(feeds);
  } else if (which === 'ours, step by step') {
    const model = await loadStepByStep(bytes, timings);
    infer = () => model.run(input, dims);
  } else {
    const { loadModel } = await import('googlenet-wasm');
    timings.import = performance.now() - started - timings.read;
    const loadStart = performance.now();
    const model = await loadModel(bytes);
    timings.load = performance.now() - loadStart;
    infer = () => model.run(input, dims);
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
  if (!values.model || !values.dims) throw new Error('--trial needs --model FILE and --dims N,C,H,W');
  await trial(values.trial, values.model, values.dims.split(',').map(Number));
} else {
  const { runtime, version, scriptArgs: args } = currentRuntime();
  const trials = values.quick ? 2 : Number(values.trials ?? 9);
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`--trials must be a positive integer, not ${values.trials}`);
  const setups = NETWORKS.flatMap((network) => {
    ensureInt8Model(network, args);
    return [
      { name: 'ours, int8 model file', which: 'ours', model: network.int8 },
      { name: 'ours, ONNX (f32)', which: 'ours', model: network.onnx },
      { name: 'onnxruntime-web, ONNX (f32)', which: 'onnxruntime-web', model: network.onnx },
      { name: 'ours, int8 model file, step by step', which: 'ours, step by step', model: network.int8 },
      { name: 'ours, ONNX (f32), step by step', which: 'ours, step by step', model: network.onnx },
    ].map((setup) => ({ ...setup, network }));
  });
  // Round-robin, a trial of every setup in turn, so that the machine's slow spells fall on all of them alike.
  const results = setups.map(() => []);
  for (let i = 0; i < trials; i++) {
    setups.forEach(({ name, which, model, network }, index) => {
      const trialArgs = ['--trial', which, '--model', model, '--dims', network.dims.join(',')];
      const child = spawnSync(process.execPath, [...args, fileURLToPath(import.meta.url), ...trialArgs], { cwd: root, encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`${network.title}, ${name}: trial failed: ${child.stderr}`);
      results[index].push(JSON.parse(child.stdout.trim().split('\n').at(-1)));
    });
  }
  const rows = setups.map(({ name, network }, index) => {
    const row = { network: network.title, name };
    for (const key of Object.keys(results[index][0])) row[key] = median(results[index].map((r) => r[key]));
    console.log(JSON.stringify(row));
    return row;
  });
  if (!values.quick) {
    const folder = new URL('results/', import.meta.url);
    await mkdir(folder, { recursive: true });
    const report = { runtime, version, date: new Date().toISOString().slice(0, 10), trials, rows };
    await writeFile(new URL(`cold-${runtime}.json`, folder), JSON.stringify(report, null, 1) + '\n');
  }
}
