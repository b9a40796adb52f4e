// The networks the one-process-per-trial benchmarks run: cold-start.js both, the torchvision GoogLeNet at 224² and
// the seed network at 96², memory.js the 224² one; each as its ONNX file and the int8 model file converted from it
// once, with the seeded input they all run.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const generated = `${root}test/fixtures/generated/`; // git-ignored, written by the tests' fixture generator

export const NETWORKS = [
  {
    title: 'torchvision GoogLeNet 224²',
    onnx: `${generated}torchvision-googlenet.onnx`,
    int8: `${generated}torchvision-googlenet.int8.safetensors`,
    dims: [1, 3, 224, 224],
  },
  {
    title: 'seed GoogLeNet 96² (10 classes)',
    onnx: `${generated}seed-googlenet.onnx`,
    int8: `${generated}seed-googlenet.int8.safetensors`,
    dims: [1, 1, 96, 96],
  },
];
export const [GOOGLENET_224] = NETWORKS;

export const seededInput = (dims) => Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => ((i * 7919) % 1000) / 1000);

export const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** Converts the network's ONNX file to its int8 model file unless that is there; `runtimeArgs` run the CLI in this runtime. */
export function ensureInt8Model(network, runtimeArgs = []) {
  if (!existsSync(network.int8)) {
    execFileSync(process.execPath, [...runtimeArgs, `${root}dist/cli/main.js`, 'convert', network.onnx, '-o', network.int8], { cwd: root });
  }
}
