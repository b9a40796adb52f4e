#!/usr/bin/env node
/** The `googlenet` command line. User errors print one line on stderr and exit 1; --verbose adds the stack. */

// Only what every command needs loads up front; classify, convert and serve import their modules (image
// decoders, the ONNX importer, the HTTP handler) when they run, so that `infer` starts fast and small.
import '../hosts/node-host.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GoogLeNetError } from '../errors.js';
import { KERNEL_VARIANTS, MAX_THREADS } from '../runtime/kernels.js';
import { loadModel, loadModelWithMetadata, PRECISIONS, type LoadOptions } from '../runtime/load.js';
import { parseInteger, UsageError } from './errors.js';
import { kernelVariant, LOAD_OPTIONS, loadOptions } from './load-options.js';
import { readUserFile, writeUserFile } from './files.js';
import { formatNpy, parseNpy } from './npy.js';
import { formatInspect, formatModelFileSummary, formatProfile } from './inspect.js';

const USAGE = `googlenet — GoogLeNet inference in WebAssembly

Usage:
  googlenet infer --model FILE --input X.npy [--input …] --output Y.npy [--output …] [--variant V] [--precision P] [--threads N]
  googlenet inspect FILE [--variant V] [--precision P] [--threads N] [--json] [--profile [--runs N]]
  googlenet classify IMAGE… [--model FILE] [--top K] [--json] [--variant V] [--precision P] [--threads N]
  googlenet convert IN.onnx -o OUT.safetensors [--weights int8|f16|f32] [--labels FILE] [--calibrate DIR] …
  googlenet serve [--port 8080] [--host 127.0.0.1] [--model FILE] [--max-body BYTES] [--variant V] [--precision P] [--threads N]
  googlenet <command> --help

FILE is an ONNX file or a model file written by convert.

Options:
  --variant V     kernel build: ${KERNEL_VARIANTS.join(' | ')} (default: the best this host runs correctly)
  --precision P   ${PRECISIONS.join(' | ')}: auto (the default) runs int8 for a model file with int8 weights, f32 otherwise
  --threads N     threads that share each convolution, 1 to ${MAX_THREADS} (default 1; N > 1 needs a SIMD build)
  --verbose       print stack traces of errors`;

/** --help is answered before parsing, so that it works whatever else is on the line. */
const COMMON_OPTIONS = { verbose: { type: 'boolean' } } as const;

const INFER_OPTIONS = {
  model: { type: 'string' },
  input: { type: 'string', multiple: true },
  output: { type: 'string', multiple: true },
  ...LOAD_OPTIONS,
} as const;

const INSPECT_OPTIONS = {
  json: { type: 'boolean' },
  profile: { type: 'boolean' },
  runs: { type: 'string' },
  ...LOAD_OPTIONS,
} as const;

const COMMAND_HELP = {
  infer: `googlenet infer --model FILE --input X.npy [--input …] --output Y.npy [--output …] [--variant V] [--precision P]
                 [--threads N]

Runs the model on float32 .npy tensors (NCHW, batch first). Give one --input per model input, in the
model's order, and one --output per output to save (the first N outputs are written). FILE is an ONNX file
or a model file written by convert. --precision auto|f32|int8 (auto: int8 for an int8 model file).
--threads N: threads that share each convolution (default 1; Node, Bun and Deno, SIMD builds).`,
  inspect: `googlenet inspect FILE [--variant V] [--precision P] [--threads N] [--json] [--profile [--runs N]]

Prints every layer of the model: name, op, output shape, parameters, multiply-accumulates and the byte
offset of its output in the activation arena; then the totals and the memory plan. For a model file it
first shows what the file carries: format version, weight precision, labels, preprocessing, calibration.

--profile times N inferences (default 10, after a warm-up) on a seeded random input and lists the layers
slowest first: median ms, GMAC/s and share of the total, for the kernel build and precision chosen. The
1×1 convolutions that read the same tensor run as one GEMM; each is given the group's time by its MACs.`,
  classify: async () => (await import('./classify.js')).CLASSIFY_HELP,
  convert: async () => (await import('./convert.js')).CONVERT_HELP,
  serve: async () => (await import('./serve.js')).SERVE_HELP,
};

type Command = keyof typeof COMMAND_HELP;

/** The command's flags (plus --verbose) and its positional arguments. */
function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  return parseArgs({ args, options: { ...options, ...COMMON_OPTIONS }, allowPositionals: true, strict: true });
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command.startsWith('-')) throw new UsageError(`the command comes first: googlenet <command> ${command} …`);
  if (!Object.hasOwn(COMMAND_HELP, command)) throw new UsageError(`unknown command "${command}"`);
  if (args.includes('--help') || args.includes('-h')) {
    const help = COMMAND_HELP[command as Command];
    console.log(typeof help === 'string' ? help : await help());
    return;
  }
  switch (command as Command) {
    case 'infer': {
      const { values, positionals } = parseCommand(args, INFER_OPTIONS);
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      await infer(values.model, values.input ?? [], values.output ?? [], loadOptions(values));
      return;
    }
    case 'inspect': {
      const { values, positionals } = parseCommand(args, INSPECT_OPTIONS);
      if (positionals.length !== 1) throw new UsageError('inspect takes exactly one model file');
      if (values.runs !== undefined && !values.profile) throw new UsageError('--runs goes with --profile');
      const runs = values.profile ? parseInteger('--runs', values.runs ?? '10', 1, 100_000) : undefined;
      await inspect(positionals[0], loadOptions(values), values.json ?? false, runs);
      return;
    }
    case 'classify': {
      const { CLASSIFY_OPTIONS, classifyFiles, formatClassifications } = await import('./classify.js');
      const { values, positionals } = parseCommand(args, CLASSIFY_OPTIONS);
      const results = await classifyFiles(positionals, values.model, values.top, loadOptions(values));
      const output = values.json ? JSON.stringify(results, null, 2) : formatClassifications(results);
      if (output) console.log(output);
      for (const result of results) if ('error' in result) console.error(`googlenet: ${result.error}`);
      if (results.some((result) => 'error' in result)) process.exitCode = 1;
      return;
    }
    case 'convert': {
      const { CONVERT_OPTIONS, convert } = await import('./convert.js');
      const { values, positionals } = parseCommand(args, CONVERT_OPTIONS);
      if (positionals.length !== 1) throw new UsageError('convert takes exactly one ONNX file');
      console.log(await convert(positionals[0], values, kernelVariant(values.variant)));
      return;
    }
    case 'serve': {
      const { SERVE_OPTIONS, serve } = await import('./serve.js');
      const { values, positionals } = parseCommand(args, SERVE_OPTIONS);
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      await serve(values, loadOptions(values));
    }
  }
}

async function infer(modelPath: string | undefined, inputPaths: string[], outputPaths: string[], options: LoadOptions) {
  if (!modelPath) throw new UsageError('infer needs --model FILE');
  if (!outputPaths.length) throw new UsageError('infer needs --output Y.npy');
  // By path: loadModel() releases the file's bytes once the model holds its weights, before the first inference.
  const model = await loadModel(modelPath, options);
  const { inputs, outputs } = model.info;
  if (inputPaths.length !== inputs.length) {
    throw new UsageError(`the model has ${inputs.length} input(s) (${inputs.map((i) => i.name).join(', ')}); got ${inputPaths.length} --input`);
  }
  if (outputPaths.length > outputs.length) {
    throw new UsageError(`the model has ${outputs.length} output(s); got ${outputPaths.length} --output`);
  }
  const tensors = await Promise.all(inputPaths.map(async (path) => parseNpy(await readUserFile(path), path)));
  const results = model.runTensors(tensors);
  await Promise.all(outputPaths.map((path, i) => writeUserFile(path, formatNpy(results[i]))));
}

/** `profileRuns`: time that many inferences per layer (inspect --profile). */
async function inspect(path: string, options: LoadOptions, json: boolean, profileRuns?: number): Promise<void> {
  const bytes = await readUserFile(path);
  const { model, metadata } = await loadModelWithMetadata(bytes, options);
  const profile = profileRuns === undefined ? undefined : model.profile(profileRuns);
  if (json) {
    const modelFile = metadata ? { ...metadata, fileBytes: bytes.length } : undefined;
    console.log(JSON.stringify({ ...model.info, modelFile, profile }, null, 2));
    return;
  }
  const table = formatInspect(model.info);
  const sections = [metadata && formatModelFileSummary(metadata, bytes.length), table, profile && formatProfile(profile, model.info)];
  console.log(sections.filter(Boolean).join('\n\n'));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const verbose = process.argv.includes('--verbose');
  const message = error instanceof Error ? error.message : String(error);
  const known = error instanceof GoogLeNetError || error instanceof UsageError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS');
  console.error(`googlenet: ${known ? message : `internal error: ${message}`}${error instanceof UsageError ? ' (see googlenet --help)' : ''}`);
  if (verbose && error instanceof Error) console.error(error.stack);
  process.exitCode = known ? 1 : 2;
});
