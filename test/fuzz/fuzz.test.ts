/**
 * The fuzz pass CI runs with every `npm test`: FUZZ_CASES cases per target (default 1,000; `npm run fuzz` runs
 * 10,000), seeded by FUZZ_SEED (default 1) so that a failure replays. See run.ts for what a crash is.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/runtime/load.js';
import type { Model } from '../../src/runtime/model.js';
import { describeReport, fuzz, type FuzzOptions } from './run.js';
import { handlerTarget, jpegTarget, loadModelTarget, modelFileTarget, onnxTarget, pngTarget, type FuzzTarget } from './targets.js';

const CASES = Number(process.env.FUZZ_CASES ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? 1);
const options: FuzzOptions = {
  seed: SEED,
  cases: CASES,
  budgetMs: Number(process.env.FUZZ_BUDGET_S ?? 120) * 1000,
  caseLimitMs: 5000,
  crashDir: 'test/output/fuzz-crashes',
};

let model: Model;
beforeAll(async () => {
  model = await loadModel();
});

async function check(target: FuzzTarget, cases = CASES) {
  const report = await fuzz(target, { ...options, cases });
  console.log(describeReport(report));
  if (process.env.FUZZ_VERBOSE) console.log([...report.rejections].sort((a, b) => b[1] - a[1]).slice(0, 12));
  expect(report.findings).toEqual([]);
  expect(report.cases).toBe(cases); // the time budget did not cut the run short
  expect(report.rejected).toBeGreaterThan(0); // the mutations do reach the checks
}

describe(`fuzz (${CASES} cases per target, seed ${SEED})`, { timeout: options.budgetMs + 60_000 }, () => {
  it('model files: decodeModelFile never crashes', () => check(modelFileTarget()));
  it('model files: loadModel and a run never crash (one case in 10 of the others)', () => check(loadModelTarget(), Math.ceil(CASES / 10)));
  it('ONNX: importOnnx never crashes', () => check(onnxTarget()));
  it('PNG: decodeImage never crashes', () => check(pngTarget()));
  it('JPEG: decodeImage never crashes', () => check(jpegTarget()));
  it('HTTP handler: every answer is JSON below 500', () => check(handlerTarget(model)));
});
