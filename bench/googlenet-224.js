// The torchvision GoogLeNet at 224² as the one-process-per-trial benchmarks (cold-start.js, memory.js) use it:
// its ONNX file, the int8 model file converted from it once, and the seeded input they all run.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const ONNX = `${root}test/fixtures/generated/torchvision-googlenet.onnx`;
export const INT8 = `${root}test/fixtures/generated/torchvision-googlenet.int8.safetensors`; // git-ignored
export const DIMS = [1, 3, 224, 224];

export const seededInput = () => Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => ((i * 7919) % 1000) / 1000);

export const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** Converts the ONNX file to the int8 model file unless that is there; `runtimeArgs` run the CLI in this runtime. */
export function ensureInt8Model(runtimeArgs = []) {
  if (!existsSync(INT8)) execFileSync(process.execPath, [...runtimeArgs, `${root}dist/cli/main.js`, 'convert', ONNX, '-o', INT8], { cwd: root });
}
