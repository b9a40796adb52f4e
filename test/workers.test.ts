/**
 * The Cloudflare Workers example (examples/workers) in workerd, bundled as `wrangler deploy` would: the sample
 * images POSTed to /classify come back as their classes, and GoogLeNet 224² (torchvision layout, int8 weights)
 * runs in the same Worker within the 128 MB a Workers isolate may use.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModelFile } from '../src/format/model-file.js';
import { importOnnx } from '../src/onnx/import.js';
import { loadModel } from '../src/runtime/load.js';
import { GOOGLENET_FIXTURES, readFixture } from './support/fixtures.js';
import { FASHION_MNIST_LABELS } from './support/image-files.js';
import { SAMPLES } from './support/samples.js';
import { bundleWorker, readWranglerConfig, startWorker, type RunningWorker, type WorkerModule } from './support/workers.js';

const EXAMPLE = fileURLToPath(new URL('../examples/workers/', import.meta.url));
const CONFIG = readWranglerConfig(EXAMPLE);
const R2_CONFIG = readWranglerConfig(EXAMPLE, 'wrangler.r2.toml');
const DEFAULT_MODEL = readFileSync(new URL('../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url));
const MODEL_MODULE = './googlenet-seed-fmnist.int8.safetensors';
const WORKERS_MEMORY_LIMIT = 128 * 2 ** 20;
const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

interface Prediction {
  label: string;
  index: number;
  probability: number;
}

/** POST /classify: the top 5 and the milliseconds the Worker spent on them. */
async function classify({ miniflare }: RunningWorker, png: Uint8Array): Promise<{ predictions: Prediction[]; ms: number }> {
  const response = await miniflare.dispatchFetch('http://worker/classify', {
    method: 'POST', body: png, headers: { 'content-type': 'image/png' },
  });
  const body = (await response.json()) as { predictions: Prediction[]; ms: number };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

const size = (modules: WorkerModule[]) => modules.reduce((sum, { contents }) => sum + contents.length, 0);
const gzipped = (modules: WorkerModule[]) => modules.reduce((sum, { contents }) => sum + gzipSync(contents).length, 0);
const KiB = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const sizes = (modules: WorkerModule[]) => {
  const unit = size(modules) < 2 ** 20 ? KiB : MiB;
  return `${unit(size(modules))} (${unit(gzipped(modules))} gzipped)`;
};

let modules: WorkerModule[];

beforeAll(async () => {
  modules = await bundleWorker(EXAMPLE, CONFIG);
});

describe('the example Worker with the default model bundled', () => {
  let worker: RunningWorker;
  beforeAll(async () => {
    worker = await startWorker(modules, CONFIG);
  });
  afterAll(() => worker?.miniflare.dispose());

  it('bundles the script, the three kernel builds as compiled wasm and the model file as data', () => {
    expect(modules.map(({ name, type }) => [name, type]).sort()).toEqual([
      ['./googlenet-seed-fmnist.int8.safetensors', 'Data'],
      ['./googlenet.relaxed-simd.wasm', 'CompiledWasm'],
      ['./googlenet.scalar.wasm', 'CompiledWasm'],
      ['./googlenet.simd.wasm', 'CompiledWasm'],
      ['./worker.js', 'ESModule'],
    ]);
    console.info(`Worker bundle with the model: ${sizes(modules)}`);
  });

  it('GET / describes the model: int8 on the relaxed-SIMD build, with its labels', async () => {
    const response = await worker.miniflare.dispatchFetch('http://worker/');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      model: 'googlenet-seed-fmnist', precision: 'int8', variant: 'relaxed-simd', labels: FASHION_MNIST_LABELS,
    });
    expect(await (await worker.miniflare.dispatchFetch('http://worker/healthz')).json()).toEqual({ status: 'ok' });
  });

  it.each(SAMPLES)('classifies $file as $label', async ({ bytes, label }) => {
    const [top] = (await classify(worker, bytes)).predictions;
    expect(top.label).toBe(label);
    expect(top.probability).toBeGreaterThan(0.5);
  });

  it('answers a request that is not an image with a 415 JSON error', async () => {
    const response = await worker.miniflare.dispatchFetch('http://worker/classify', {
      method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' },
    });
    expect(response.status).toBe(415);
    expect(await response.json()).toHaveProperty('error');
  });
});

/** workerd's own memory, which Cloudflare does not count: its RSS serving an empty Worker. */
async function emptyWorkerRss(): Promise<number> {
  const script = 'export default { fetch: () => new Response("ok") };';
  const worker = await startWorker([{ name: './worker.js', type: 'ESModule', contents: new TextEncoder().encode(script) }], CONFIG);
  try {
    expect(await (await worker.miniflare.dispatchFetch('http://worker/')).text()).toBe('ok');
    return worker.memory().rss;
  } finally {
    await worker.miniflare.dispose();
  }
}

describe('GoogLeNet 224² (torchvision layout, int8 weights) bundled in the same Worker', () => {
  it('classifies as Node does, in less than the 128 MB of a Workers isolate', async () => {
    const runtimeRss = await emptyWorkerRss();
    const modelFile = encodeModelFile(importOnnx(readFixture(GOOGLENET_FIXTURES.torchvision)), { weights: 'int8' });
    const worker = await startWorker(
      modules.map((module) => (module.name === MODEL_MODULE ? { ...module, contents: modelFile } : module)),
      CONFIG,
    );
    try {
      const idle = worker.memory();
      const image = SAMPLES[0].bytes;
      const { predictions } = await classify(worker, image);
      const { ms } = await classify(worker, image);
      const loaded = worker.memory();

      // int8 results are bit-identical across builds; only the f32 tail (pooling, classifier) may round differently.
      const node = await loadModel(modelFile);
      const expected = node.classify(image, { topK: 1000 });
      node.dispose();
      expect(predictions[0].probability).toBeCloseTo(expected[0].probability, 6);
      for (const { index, probability } of predictions) {
        expect(probability).toBeCloseTo(expected.find((prediction) => prediction.index === index)!.probability, 6);
      }

      // The isolate's share: the peak above what workerd needs for an empty Worker (which includes the tiny
      // isolate of that Worker, so this slightly overstates it).
      const isolate = loaded.peak - runtimeRss;
      console.info(
        `GoogLeNet 224² int8 in workerd: model file ${MiB(modelFile.length)}; workerd RSS with an empty Worker ` +
          `${MiB(runtimeRss)}, with this one ${MiB(idle.rss)} before the first request, peak ${MiB(loaded.peak)} ` +
          `after two inferences: the isolate takes at most ${MiB(isolate)}; an inference took ${ms} ms`,
      );
      expect(isolate).toBeLessThan(WORKERS_MEMORY_LIMIT);
    } finally {
      await worker.miniflare.dispose();
    }
  });
});

describe('the example Worker with the model in R2 (wrangler.r2.toml)', () => {
  let r2Modules: WorkerModule[];
  let worker: RunningWorker;
  beforeAll(async () => {
    r2Modules = await bundleWorker(EXAMPLE, R2_CONFIG);
    worker = await startWorker(r2Modules, R2_CONFIG);
  });
  afterAll(() => worker?.miniflare.dispose());

  it('bundles no model, so that it fits the free plan', () => {
    expect(r2Modules.map(({ name }) => name).sort()).toEqual([
      './googlenet.relaxed-simd.wasm', './googlenet.scalar.wasm', './googlenet.simd.wasm', './worker.js',
    ]);
    expect(gzipped(r2Modules)).toBeLessThan(1 * 2 ** 20);
    console.info(`Worker bundle without the model (R2): ${sizes(r2Modules)}`);
  });

  it('answers 500 while the bucket lacks the model, then loads it once it is there', async () => {
    const missing = await worker.miniflare.dispatchFetch('http://worker/healthz');
    expect(missing.status).toBe(500);
    const bucket = await worker.miniflare.getR2Bucket(R2_CONFIG.r2Buckets[0]);
    await bucket.put(R2_CONFIG.vars.MODEL_KEY, DEFAULT_MODEL);
    for (const { bytes, label } of SAMPLES) expect((await classify(worker, bytes)).predictions[0].label).toBe(label);
  });
});
