// Median latency of GoogLeNet (torchvision layout, 224²) and the seed network (96²) for each kernel build and
// precision, beside onnxruntime-web's wasm backend (1 thread) in the same process: f32 on the same ONNX file,
// int8 on a QDQ copy of it (bench/qdq.js). Then the best build again on THREADS threads, beside onnxruntime-node's
// native f32 on one thread. Runs in Node, Deno and Bun alike (`npm run bench` runs all three, then
// bench/report.js); writes bench/results/<runtime>.json.
// Options: --runs N (default 15), --quick (3 runs, for smoke checks; writes nothing).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { KERNEL_VARIANTS, collectActivationRanges, encodeModelFile, loadModel } from 'googlenet-wasm';
import { importOnnx } from '../dist/onnx/import.js';
import { quantizeToQdq } from './qdq.js';
import { collectGarbage, currentRuntime } from './runtime.js';
import { buildTfjsGraph, initTfjs, toNhwc } from './tfjs.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, quick: { type: 'boolean' } } });
const runs = values.quick ? 3 : Number(values.runs ?? 15);
const THREADS = 2;
const fixtures = new URL('../test/fixtures/generated/', import.meta.url);
const GRAPHS = [
  { title: 'torchvision GoogLeNet 224²', file: 'torchvision-googlenet.onnx', profile: true },
  { title: 'seed GoogLeNet 96² (10 classes)', file: 'seed-googlenet.onnx' },
];

function ensureFixtures() {
  if (GRAPHS.every(({ file }) => existsSync(new URL(file, fixtures)))) return;
  console.log('generating ONNX fixtures with PyTorch …');
  execFileSync('/usr/bin/python3', ['test/fixtures/make_fixtures.py', 'test/fixtures/generated'], {
    cwd: new URL('..', import.meta.url), stdio: 'inherit',
  });
}

function seededInput(count) {
  let state = 12345;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

const median = (times) => [...times].sort((a, b) => a - b)[times.length >> 1];

function relativeL2(a, b) {
  let diff = 0, norm = 0;
  for (let i = 0; i < b.length; i++) { diff += (a[i] - b[i]) ** 2; norm += b[i] ** 2; }
  return Math.sqrt(diff / norm);
}

/**
 * Warm-up before timing: at least one run and WARM_UP_MS, so that the engine has optimised the kernels (a build
 * first used here, such as a threaded one, runs baseline code until its background compilation is done).
 */
const WARM_UP_MS = 500;
/**
 * A threaded build's warm-up, longer: Bun's 224² 2-thread int8 row measured 0.93–1.25× native in three series after
 * 0.5 s, 0.68–0.69× in two after 2 s (probably the engine's background compiler still busy, on two cores, with the
 * workers' code while both threads were being timed).
 */
const THREADED_WARM_UP_MS = 2000;

/**
 * Times `run` `runs` times after a warm-up of `warmUpMs`; returns the median in ms and the first run's result. A
 * full garbage collection first, where the runtime allows it, so that what earlier series left (the memories of
 * disposed models, the peers' sessions) is not collected on the other core while a 2-thread series is timed. It
 * does not remove the host's own swings: Node's 2-thread seed-network row measured 0.79× and 1.10× native in two
 * series with it, 0.83× and 1.10× in two without.
 */
async function measure(run, warmUpMs = WARM_UP_MS) {
  collectGarbage();
  const output = await run();
  for (const start = performance.now(); performance.now() - start < warmUpMs;) await run();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return { ms: median(times), output };
}

const PROFILED_LAYERS = 8;

async function benchGraph({ title, file, profile }) {
  const bytes = new Uint8Array(await readFile(new URL(file, fixtures)));
  ortWeb.env.wasm.numThreads = 1;
  const dims = (await loadModel(bytes, { variant: 'scalar' })).info.inputs[0].dims;
  const size = dims.reduce((a, b) => a * b, 1);
  const input = seededInput(size);
  // Calibration inputs for the peer's QDQ model, other than the timed one.
  const calibration = [1, 2, 3].map((seed) => seededInput(size + seed).subarray(seed));
  const peers = { f32: bytes, int8: await quantizeToQdq(bytes, calibration, dims) };
  // Ours calibrated on the same inputs: a model file with activation ranges, as `googlenet convert --calibrate` writes.
  const graph = importOnnx(bytes);
  const activationRanges = await collectActivationRanges(graph, calibration.map((data) => [{ data, dims }]));
  const calibrated = encodeModelFile(graph, { weights: 'int8', activationRanges });
  const setups = [
    { precision: 'f32', peer: 'f32', model: bytes },
    { precision: 'int8', peer: 'int8', model: bytes },
    { precision: 'int8 calibrated', peer: 'int8', model: calibrated },
  ];
  const rows = [];
  const threadRows = [];
  let macs = 0;
  let reference;
  let tfjs; // the TF.js peer's f32 median, once measured
  for (const setup of setups) {
    const { precision } = setup;
    const session = await ortWeb.InferenceSession.create(peers[setup.peer], { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const feeds = { [session.inputNames[0]]: new ortWeb.Tensor('float32', input, dims) };
    const peer = await measure(async () => (await session.run(feeds))[session.outputNames[0]].data);
    reference ??= peer.output;
    if (setup.precision === 'f32') tfjs = await measureTfjs(graph, input, dims, reference);
    for (const variant of KERNEL_VARIANTS) {
      let model;
      try {
        model = await loadModel(setup.model, { variant, precision: setup.peer });
      } catch (error) {
        rows.push({ precision, variant, note: error.message.replace(/^no usable kernel build \((.*)\)$/, '$1') });
        continue;
      }
      macs = model.info.macs;
      const ours = await measure(() => model.run(input, dims).data);
      rows.push({
        precision, variant, ms: ours.ms, peerMs: peer.ms, error: relativeL2(ours.output, reference), peerError: relativeL2(peer.output, reference),
        ...(precision === 'f32' ? { tfjs } : {}),
      });
      model.dispose();
    }
    threadRows.push(await measureThreads(setup, input, dims, reference, rows));
    await session.release();
  }
  const native = await measureNative(bytes, input, dims, reference);
  return { title, file, macs, rows, threadRows, native, ...(profile && { profiles: await profileLayers(setups) }) };
}

/** The slowest layers of one inference, per precision, with the best build on one thread (Model.profile). */
async function profileLayers(setups) {
  const profiles = [];
  for (const setup of setups) {
    const model = await loadModel(setup.model, { precision: setup.peer });
    const { totalMs, layers } = model.profile(runs);
    const slowest = [...layers].sort((a, b) => b.ms - a.ms).slice(0, PROFILED_LAYERS);
    profiles.push({ precision: setup.precision, variant: model.info.variant, totalMs, layers: slowest });
    model.dispose();
  }
  return profiles;
}

/** The best build this host runs, on THREADS threads, beside its one-thread row. */
async function measureThreads(setup, input, dims, reference, rows) {
  const model = await loadModel(setup.model, { precision: setup.peer, threads: THREADS });
  const { variant, threads } = model.info;
  const ours = await measure(() => model.run(input, dims).data, THREADED_WARM_UP_MS);
  model.dispose();
  const single = rows.find((row) => row.precision === setup.precision && row.variant === variant);
  return { precision: setup.precision, variant, threads, ms: ours.ms, oneThreadMs: single.ms, error: relativeL2(ours.output, reference) };
}

/** onnxruntime-node's native CPU f32 on one thread (the bar for our threaded int8). */
async function measureNative(bytes, input, dims, reference) {
  const session = await ortNode.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const feeds = { [session.inputNames[0]]: new ortNode.Tensor('float32', input, dims) };
  const native = await measure(async () => (await session.run(feeds))[session.outputNames[0]].data);
  await session.release();
  return { ms: native.ms, error: relativeL2(native.output, reference) };
}

/** TF.js's wasm backend on the same graph (f32): its median, its error, or why it could not run here. */
async function measureTfjs(graph, input, dims, reference) {
  try {
    const { version } = await initTfjs();
    const peer = buildTfjsGraph(graph);
    const nhwc = toNhwc(input, dims);
    const { ms, output } = await measure(() => peer.run(nhwc, dims));
    peer.dispose();
    return { version, ms, error: relativeL2(output, reference) };
  } catch (error) {
    return { note: error.message };
  }
}

/** This runtime's name and version, and the flags it runs wasm with. */
function runtimeFields() {
  const { runtime, version, flags } = currentRuntime();
  return { runtime, version, flags };
}

ensureFixtures();
const graphs = [];
for (const graph of GRAPHS) {
  graphs.push(await benchGraph(graph));
  console.log(JSON.stringify(graphs.at(-1)));
}
const results = {
  ...runtimeFields(), date: new Date().toISOString().slice(0, 10), cpu: os.cpus()[0].model, cores: os.cpus().length,
  peer: `onnxruntime-web ${ortWeb.env.versions.web}`, runs, graphs,
};
if (!values.quick) {
  const folder = new URL('results/', import.meta.url);
  await mkdir(folder, { recursive: true });
  await writeFile(new URL(`${results.runtime}.json`, folder), JSON.stringify(results, null, 1) + '\n');
}
