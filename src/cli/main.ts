#!/usr/bin/env node
/** The `googlenet` command line. User errors print one line on stderr and exit 1; --verbose adds the stack. */

import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { GoogLeNetError, loadModel, KERNEL_VARIANTS, type KernelVariant, type Model } from '../index.js';
import { formatNpy, parseNpy } from './npy.js';
import { formatInspect } from './inspect.js';

const USAGE = `googlenet — GoogLeNet inference in WebAssembly

Usage:
  googlenet infer --model FILE --input X.npy [--input …] --output Y.npy [--output …] [--variant V]
  googlenet inspect FILE [--variant V] [--json]
  googlenet <command> --help

Options:
  --variant V   kernel build: ${KERNEL_VARIANTS.join(' | ')} (default: the best this host runs correctly)
  --verbose     print stack traces of errors`;

const COMMAND_HELP: Record<string, string> = {
  infer: `googlenet infer --model FILE --input X.npy [--input …] --output Y.npy [--output …] [--variant V]

Runs the model on float32 .npy tensors (NCHW, batch first). Give one --input per model input, in the
model's order, and one --output per output to save (the first N outputs are written).`,
  inspect: `googlenet inspect FILE [--variant V] [--json]

Prints every layer of the model: name, op, output shape, parameters, multiply-accumulates and the byte
offset of its output in the activation arena; then the totals and the memory plan.`,
};

/** Thrown for command-line mistakes; printed with a hint to --help. */
class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      input: { type: 'string', multiple: true },
      output: { type: 'string', multiple: true },
      variant: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      verbose: { type: 'boolean' },
    },
  });
  const [command, ...rest] = positionals;
  if (!command || command === 'help') {
    console.log(USAGE);
    return;
  }
  if (!(command in COMMAND_HELP)) throw new UsageError(`unknown command "${command}"`);
  if (values.help) {
    console.log(COMMAND_HELP[command]);
    return;
  }
  const variant = values.variant as KernelVariant | undefined;
  if (variant && !KERNEL_VARIANTS.includes(variant)) {
    throw new UsageError(`--variant must be one of ${KERNEL_VARIANTS.join(', ')}`);
  }
  if (command === 'inspect') {
    if (rest.length !== 1) throw new UsageError('inspect takes exactly one model file');
    const model = await loadModelFile(rest[0], variant);
    console.log(values.json ? JSON.stringify(model.info, null, 2) : formatInspect(model.info));
    return;
  }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  await infer(values.model, values.input ?? [], values.output ?? [], variant);
}

async function infer(modelPath: string | undefined, inputPaths: string[], outputPaths: string[], variant?: KernelVariant) {
  if (!modelPath) throw new UsageError('infer needs --model FILE');
  if (!outputPaths.length) throw new UsageError('infer needs --output Y.npy');
  const model = await loadModelFile(modelPath, variant);
  const { inputs, outputs } = model.info;
  if (inputPaths.length !== inputs.length) {
    throw new UsageError(`the model has ${inputs.length} input(s) (${inputs.map((i) => i.name).join(', ')}); got ${inputPaths.length} --input`);
  }
  if (outputPaths.length > outputs.length) {
    throw new UsageError(`the model has ${outputs.length} output(s); got ${outputPaths.length} --output`);
  }
  const tensors = await Promise.all(inputPaths.map(async (path) => parseNpy(await readUserFile(path), path)));
  const results = model.runTensors(tensors);
  await Promise.all(outputPaths.map((path, i) => writeFile(path, formatNpy(results[i]))));
}

async function loadModelFile(path: string, variant?: KernelVariant): Promise<Model> {
  return loadModel(await readUserFile(path), { variant });
}

async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GoogLeNetError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const verbose = process.argv.includes('--verbose');
  const message = error instanceof Error ? error.message : String(error);
  const known = error instanceof GoogLeNetError || error instanceof UsageError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS');
  console.error(`googlenet: ${known ? message : `internal error: ${message}`}${error instanceof UsageError ? ' (see googlenet --help)' : ''}`);
  if (verbose && error instanceof Error) console.error(error.stack);
  process.exitCode = known ? 1 : 2;
});
