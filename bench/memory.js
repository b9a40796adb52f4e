// Peak memory of one 224² inference, each in a fresh Node process: `googlenet infer` on the int8 model file (on
// one thread and on two) and on the ONNX file (f32), onnxruntime-web and onnxruntime-node running the ONNX file,
// and a bare `node -e 0` to subtract. Peak = getrusage's maxrss (bench/peak-rss.cjs). Writes
// bench/results/memory-node.json for bench/report.js.
// Options: --trials N (default 3), --quick (1 trial, writes nothing); --peer NAME runs one peer's inference in
// this process (how the script runs each peer).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatNpy } from '../dist/cli/npy.js';
import { ensureInt8Model, GOOGLENET_224, median, root, seededInput } from './networks.js';

const { dims: DIMS, int8: INT8, onnx: ONNX } = GOOGLENET_224;

const { values } = parseArgs({ options: { trials: { type: 'string' }, quick: { type: 'boolean' }, peer: { type: 'string' } } });
/** A peer's inference on the ONNX file, in this (fresh) process. */
async function runPeer(peer) {
  const ort = await import(peer);
  if (peer === 'onnxruntime-web') ort.env.wasm.numThreads = 1;
  const options = peer === 'onnxruntime-web' ? { executionProviders: ['wasm'] } : { intraOpNumThreads: 1 };
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(ONNX)), options);
  await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', seededInput(DIMS), DIMS) });
}

if (values.peer) {
  await runPeer(values.peer);
} else {
  ensureInt8Model(GOOGLENET_224);
  const trials = values.quick ? 1 : Number(values.trials ?? 3);
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`--trials must be a positive integer, not ${values.trials}`);
  const folder = mkdtempSync(join(tmpdir(), 'googlenet-memory-'));
  const input = join(folder, 'x.npy'), output = join(folder, 'y.npy');
  writeFileSync(input, formatNpy({ data: seededInput(DIMS), dims: DIMS }));
  const infer = (model, ...extra) => [`${root}dist/cli/main.js`, 'infer', '--model', model, '--input', input, '--output', output, ...extra];
  const setups = [
    { name: 'bare node -e 0', args: ['-e', '0'] },
    { name: 'ours: googlenet infer, int8 model file', args: infer(INT8) },
    { name: 'ours: googlenet infer, int8 model file, 2 threads', args: infer(INT8, '--threads', '2') },
    { name: 'ours: googlenet infer, ONNX (f32)', args: infer(ONNX) },
    { name: 'onnxruntime-web, ONNX (f32)', args: [fileURLToPath(import.meta.url), '--peer', 'onnxruntime-web'] },
    { name: 'onnxruntime-node (native), ONNX (f32)', args: [fileURLToPath(import.meta.url), '--peer', 'onnxruntime-node'] },
  ];
  const rows = [];
  try {
    for (const { name, args } of setups) {
      const peaks = [];
      for (let i = 0; i < trials; i++) {
        const child = spawnSync(process.execPath, ['--require', `${root}bench/peak-rss.cjs`, ...args], { cwd: root, encoding: 'utf8' });
        const peak = /peak-rss-kib (\d+)/.exec(child.stderr);
        if (child.status !== 0 || !peak) throw new Error(`${name} failed: ${child.stderr}`);
        peaks.push(Number(peak[1]) * 1024);
      }
      rows.push({ name, peakBytes: median(peaks) });
      console.log(JSON.stringify(rows.at(-1)));
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  if (!values.quick) {
    const results = new URL('results/', import.meta.url);
    await mkdir(results, { recursive: true });
    const report = { runtime: 'node', version: process.versions.node, date: new Date().toISOString().slice(0, 10), trials, graph: 'torchvision-googlenet (224²)', rows };
    await writeFile(new URL('memory-node.json', results), JSON.stringify(report, null, 1) + '\n');
  }
}
