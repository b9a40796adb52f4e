/**
 * Cross-runtime determinism: the default model's int8 logits for every sample image, decoded and preprocessed as
 * classify() does, are the same bits in Node, Deno, Bun, workerd and Chromium for the same kernel build, and the
 * simd and relaxed-simd builds agree too (the int8 path is designed to round identically on both), and so do 2
 * threads wherever the host runs them (all but workerd). Each runtime runs test/support/logits-probe.js against
 * the built package (dist/), imported by the package's name.
 */

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelVariant } from '../src/runtime/kernels.js';
import { SAMPLES } from './support/samples.js';
import { serveStatic, type StaticServer } from './support/static-server.js';
import { bundleWorker, readWranglerConfig, startWorker, type RunningWorker } from './support/workers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROBE = join(ROOT, 'test/support/logits-probe.js');
const CHROMIUM = '/usr/bin/chromium';
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);

/** Per image name: the SHA-256 of the preprocessed input's bytes, and the logits' float32 bytes, in hex. */
type ProbeOutput = {
  variant: KernelVariant; threads: number; precision: string; inputs: Record<string, string>; logits: Record<string, string>;
};
type ProbeResult = ProbeOutput | { error: string };
type ProbeRequest = { variant: KernelVariant; threads?: number; images: { name: string; bytes: number[] }[]; modelUrl?: string };
type Runtime = 'node' | 'deno' | 'bun' | 'workerd' | 'chromium';
type Probe = (request: ProbeRequest) => Promise<ProbeResult>;

const request = (variant: KernelVariant, threads = 1): ProbeRequest => ({
  variant, threads, images: SAMPLES.map(({ path, bytes }) => ({ name: basename(path), bytes: [...bytes] })),
});

/** Runs the probe in a command-line runtime that takes an ES module as its last argument. */
function commandLineProbe(command: string, args: string[]): Probe {
  return async (probeRequest) => {
    const script = `import { probeLogits } from '${pathToFileURL(PROBE)}';\n` +
      `console.log(JSON.stringify(await probeLogits(${JSON.stringify(probeRequest)})));`;
    const { stdout } = await promisify(execFile)(command, [...args, script], { cwd: ROOT, maxBuffer: 2 ** 24 });
    return JSON.parse(stdout);
  };
}

let browser: Browser | undefined;
let worker: RunningWorker | undefined;
const servers: StaticServer[] = [];
const temporaryDirs: string[] = [];

/** The probe as a Worker bundled as wrangler would for the example's rules; it fetches the model over HTTP. */
async function workerdProbe(): Promise<Probe> {
  const config = { ...readWranglerConfig(join(ROOT, 'examples/workers')), main: basename(PROBE) };
  worker = await startWorker(await bundleWorker(join(ROOT, 'test/support'), config), config);
  const models = await serveStatic(join(ROOT, 'models'));
  servers.push(models);
  return async (probeRequest) => {
    const body = JSON.stringify({ ...probeRequest, modelUrl: `${models.url}googlenet-seed-fmnist.int8.safetensors` });
    const response = await worker!.miniflare.dispatchFetch('http://worker/', { method: 'POST', body });
    return (await response.json()) as ProbeResult;
  };
}

/** The probe bundled by Vite for browsers (the package's `browser` entry, its wasm and model as assets). */
async function chromiumProbe(): Promise<Probe> {
  const outDir = await mkdtemp(join(tmpdir(), 'googlenet-logits-probe-'));
  temporaryDirs.push(outDir);
  await build({
    configFile: false,
    logLevel: 'silent',
    root: ROOT,
    build: {
      outDir,
      assetsInlineLimit: 0,
      rollupOptions: { input: PROBE, preserveEntrySignatures: 'strict', output: { entryFileNames: 'logits-probe.js' } },
    },
  });
  // The page hands the probe to the test (an import() in page.evaluate would be rewritten by vitest's transform).
  const page = `<!doctype html><script type="module">
    import { probeLogits } from './logits-probe.js';
    globalThis.probeLogits = probeLogits;
  </script>`;
  await writeFile(join(outDir, 'index.html'), page);
  const server = await serveStatic(outDir, { crossOriginIsolated: true });
  servers.push(server);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  const tab = await browser.newPage();
  const pageErrors: Error[] = [];
  tab.on('pageerror', (error) => pageErrors.push(error));
  await tab.goto(server.url);
  await tab.waitForFunction(() => 'probeLogits' in globalThis);
  return async (probeRequest) => {
    type PageGlobals = { probeLogits: Probe };
    const result = await tab.evaluate((request) => (globalThis as unknown as PageGlobals).probeLogits(request), probeRequest);
    expect(pageErrors).toEqual([]);
    return result as ProbeResult;
  };
}

const PROBES: Record<Runtime, () => Promise<Probe>> = {
  // With the flag that lets Node 20 run relaxed SIMD at all (as vitest's workers and the benchmark run Node).
  node: async () => commandLineProbe(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e']),
  deno: async () => commandLineProbe(bin('deno'), ['eval', '--quiet']),
  bun: async () => commandLineProbe(bin('bun'), ['--eval']),
  workerd: workerdProbe,
  chromium: chromiumProbe,
};
const RUNTIMES = Object.keys(PROBES) as Runtime[];
/** Every runtime but Node 20, whose relaxed-simd build fails its int8 dot self-test (even with the flag). */
const RELAXED_RUNTIMES = RUNTIMES.filter((runtime) => runtime !== 'node');

const results = {} as Record<Runtime, Record<'simd' | 'relaxed-simd' | 'simd, 2 threads', ProbeResult>>;

beforeAll(async () => {
  const started = performance.now();
  await Promise.all(RUNTIMES.map(async (runtime) => {
    const probe = await PROBES[runtime]();
    // Runtimes start and probe concurrently; each probes one build after the other (one page, one Worker).
    results[runtime] = {
      simd: await probe(request('simd')),
      'relaxed-simd': await probe(request('relaxed-simd')),
      'simd, 2 threads': await probe(request('simd', 2)),
    };
  }));
  console.info(`logits of ${SAMPLES.length} images × 3 setups in ${RUNTIMES.join(', ')}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

afterAll(async () => {
  await Promise.all([browser?.close(), worker?.miniflare.dispose(), ...servers.map((server) => server.close())]);
  await Promise.all(temporaryDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function succeeded(result: ProbeResult): ProbeOutput {
  if ('error' in result) throw new Error(`the probe failed: ${result.error}`);
  return result;
}

/** A float32 array's bytes in hex → its values. */
const floats = (hex: string) => [...new Float32Array(Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16)).buffer)];

describe('the simd build', () => {
  it('in Node: int8 logits for every sample image, finite, distinct, and ranking each image\'s class first', () => {
    const node = succeeded(results.node.simd);
    expect(node).toMatchObject({ variant: 'simd', precision: 'int8' });
    const names = SAMPLES.map(({ path }) => basename(path));
    expect(Object.keys(node.logits)).toEqual(names);
    for (const [name, hex] of Object.entries(node.logits)) {
      const values = floats(hex);
      expect(values, name).toHaveLength(10);
      expect(values.every(Number.isFinite) && values.some((value) => value !== 0), name).toBe(true);
      expect(values.indexOf(Math.max(...values)), name).toBe(parseInt(name, 10)); // `<class index>-<label>.png`
    }
    expect(new Set(Object.values(node.logits)).size).toBe(SAMPLES.length);
    expect(Object.keys(node.inputs)).toEqual(names);
    expect(new Set(Object.values(node.inputs)).size).toBe(SAMPLES.length);
  });

  it.each(RUNTIMES.filter((runtime) => runtime !== 'node'))('in %s: the same bits as in Node', (runtime) => {
    expect(results[runtime].simd).toEqual(results.node.simd);
  });
});

describe('the relaxed-simd build', () => {
  it('is rejected by Node 20 for its int8 dot self-test', () => {
    expect(process.versions.node.split('.')[0]).toBe('20'); // a newer Node may pass: then run it like the others
    expect(results.node['relaxed-simd']).toEqual({
      error: expect.stringMatching(/no usable kernel build \(relaxed-simd: int8 dot self-test returned -?\d+, expected \d+\)/),
    });
  });

  it.each(RELAXED_RUNTIMES)('in %s: accepted, with the same bits as in Deno', (runtime) => {
    expect(results[runtime]['relaxed-simd']).toMatchObject({ variant: 'relaxed-simd', precision: 'int8' });
    expect(results[runtime]['relaxed-simd']).toEqual(results.deno['relaxed-simd']);
  });

  it('gives the same int8 logits as the simd build, bit for bit', () => {
    expect(succeeded(results.deno['relaxed-simd']).logits).toEqual(succeeded(results.node.simd).logits);
  });
});

describe('2 threads', () => {
  it.each(RUNTIMES.filter((runtime) => runtime !== 'workerd'))('in %s: the same bits as one thread', (runtime) => {
    expect(results[runtime]['simd, 2 threads']).toEqual({ ...succeeded(results.node.simd), threads: 2 });
  });

  it('in workerd: refused, since Workers start no threads', () => {
    expect(results.workerd['simd, 2 threads']).toEqual({ error: expect.stringMatching(/threads: 2 needs a host that starts threads/) });
  });
});
