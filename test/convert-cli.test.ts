/** `googlenet convert`, then `inspect` and `infer` on what it wrote, through the built CLI in a child process. */

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ProgressBar } from '../src/cli/progress.js';
import { formatNpy, parseNpy } from '../src/cli/npy.js';
import { decodeModelFile } from '../src/format/model-file.js';
import { CLI, googlenet } from './support/cli.js';
import { FIXTURE_DIR, GOOGLENET_FIXTURES } from './support/fixtures.js';
import { imageLikeBatch } from './support/images.js';
import { relativeL2 } from './support/raw-kernels.js';

const work = mkdtempSync(join(tmpdir(), 'googlenet-convert-'));
const fixture = (layout: keyof typeof GOOGLENET_FIXTURES) => join(FIXTURE_DIR, GOOGLENET_FIXTURES[layout]);
const seedOnnx = fixture('seed');
const FASHION_MNIST = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function write(name: string, contents: string | Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, contents);
  return path;
}

/** A folder of float32 .npy tensors for --calibrate. */
function calibrationDir(name: string, files: Record<string, { data: Float32Array; dims: number[] }>): string {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const [file, tensor] of Object.entries(files)) writeFileSync(join(dir, file), formatNpy(tensor));
  return dir;
}

describe('googlenet convert → inspect → infer', () => {
  const seedFile = join(work, 'seed.safetensors');
  let converted: Awaited<ReturnType<typeof googlenet>>;

  beforeAll(async () => {
    const labels = write('labels.txt', `${FASHION_MNIST.join('\r\n')}\r\n\n`);
    const calibration = calibrationDir('calibration', {
      'a.npy': { data: imageLikeBatch(2, [1, 96, 96], 11), dims: [2, 1, 96, 96] },
      'b.npy': { data: imageLikeBatch(1, [1, 96, 96], 13), dims: [1, 1, 96, 96] },
      'notes.txt': { data: new Float32Array(), dims: [0] }, // neither .npy nor an image: ignored
    });
    converted = await googlenet(
      'convert', seedOnnx, '-o', seedFile, '--labels', labels, '--calibrate', calibration,
      '--mean', '0.286', '--std', '0.353', '--scale', '1/255',
    );
  });

  it('converts with a one-line summary on stdout and no progress bar when stderr is not a terminal', () => {
    expect(converted).toMatchObject({ code: 0, stderr: '' });
    const size = statSync(seedFile).size;
    const ratio = size / statSync(seedOnnx).size;
    expect(ratio).toBeLessThanOrEqual(0.27);
    expect(converted.stdout).toBe(
      `${seedOnnx} (22.83 MiB) → ${seedFile} (${(size / 2 ** 20).toFixed(2)} MiB, int8 weights): ${ratio.toFixed(3)}× the size\n`,
    );
    const file = decodeModelFile(new Uint8Array(readFileSync(seedFile)));
    expect(file.labels).toEqual(FASHION_MNIST);
    expect(file.preprocess).toEqual({
      inputSize: [96, 96], channels: 'gray', mean: [0.286], std: [0.353], scale: 1 / 255,
      resize: { method: 'bilinear', crop: 'none' },
    });
    expect(Object.keys(file.activationRanges!)).toHaveLength(file.graph.nodes.length + 1);
  });

  it('inspect shows what the file carries, then the layer table', async () => {
    const { code, stdout } = await googlenet('inspect', seedFile);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^model file: {4}5\.\d\d MiB \([\d,]+ bytes\), format version 1$/);
    expect(lines.slice(1, 6)).toEqual([
      'weights:       int8',
      'labels:        10: "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", …',
      'channels:      gray, pixels × 0.00392157, mean [0.286], std [0.353]',
      'resize:        bilinear, straight to 96x96',
      expect.stringMatching(/^calibration: {3}\[min, max\] of \d+ activation tensors$/),
    ]);
    expect(lines[6]).toBe('');
    expect(lines[7]).toMatch(/^layer\s+op\s+output shape/);

    const json = JSON.parse((await googlenet('inspect', seedFile, '--json')).stdout);
    expect(json.modelFile).toMatchObject({ weights: 'int8', formatVersion: 1, labels: FASHION_MNIST, fileBytes: statSync(seedFile).size });
    expect(json.layers.length).toBeGreaterThan(50);
  });

  it('infer runs the model file close to the ONNX file: f32 on its int8 weights, or int8 by default', async () => {
    const input = write('input.npy', formatNpy({ data: imageLikeBatch(2, [1, 96, 96], 17), dims: [2, 1, 96, 96] }));
    const logits = async (...args: string[]) => {
      const output = join(work, `logits-${args.join('-').replace(/\W+/g, '_')}.npy`);
      expect(await googlenet('infer', '--input', input, '--output', output, ...args)).toMatchObject({ code: 0, stderr: '' });
      return parseNpy(new Uint8Array(readFileSync(output)));
    };
    const expected = await logits('--model', seedOnnx);
    const weightsOnly = await logits('--model', seedFile, '--precision', 'f32');
    const int8 = await logits('--model', seedFile);
    expect(int8.dims).toEqual([2, 10]);
    expect(relativeL2(weightsOnly.data, expected.data)).toBeLessThan(0.05);
    expect(relativeL2(int8.data, expected.data)).toBeLessThan(0.08);
    expect(relativeL2(int8.data, weightsOnly.data)).toBeGreaterThan(0); // activations really were quantised
    const info = JSON.parse((await googlenet('inspect', seedFile, '--json')).stdout);
    expect(info.precision).toBe('int8');
    expect(JSON.parse((await googlenet('inspect', seedFile, '--json', '--precision', 'f32')).stdout).precision).toBe('f32');
    expect((await googlenet('inspect', seedFile, '--precision', 'int4')).stderr).toMatch(/--precision must be one of auto, f32, int8/);
  });

  it('calibrates on PNG images through the preprocessing the file carries', async () => {
    const dir = join(work, 'calibration-images');
    mkdirSync(dir);
    for (const name of ['0-tshirt-top.png', '7-sneaker.png']) {
      writeFileSync(join(dir, name), readFileSync(new URL(`../examples/images/${name}`, import.meta.url)));
    }
    const output = join(work, 'image-calibrated.safetensors');
    const result = await googlenet('convert', seedOnnx, '-o', output, '--calibrate', dir, '--mean', '0.286', '--std', '0.353');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const { activationRanges, graph } = decodeModelFile(new Uint8Array(readFileSync(output)));
    const [low, high] = activationRanges![graph.inputs[0].name];
    // 28×28 gray garments upsampled to 96²: pixels 0…255 normalised by mean 0.286 and std 0.353.
    expect(low).toBeCloseTo(-0.286 / 0.353, 3);
    expect(high).toBeGreaterThan(1.5);
    expect(high).toBeLessThanOrEqual((1 - 0.286) / 0.353 + 1e-4);
  });

  it('draws a progress bar on stderr when it is a terminal', async () => {
    const output = join(work, 'tty.safetensors');
    // script(1) gives the command a pseudo-terminal; its output is the terminal's, stdout and stderr together.
    const { stdout } = await promisify(execFile)('script', ['-qec', `node ${CLI} convert ${seedOnnx} -o ${output} --weights f16`, '/dev/null']);
    expect(stdout).toMatch(/\r\x1b\[Kstoring weights \[#+\.*\] \d+%/);
    expect(stdout).toContain('\r\x1b[Kstoring weights [##############################] 100%\r\x1b[K');
    expect(stdout).toMatch(/f16 weights\): 0\.50\d× the size\r?\n$/);
  });
});

describe('googlenet convert preprocessing flags', () => {
  it.each([
    ['torchvision', ['--channels', 'rgb', '--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225', '--resize', '256'], {
      inputSize: [224, 224], channels: 'rgb', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], scale: 1 / 255,
      resize: { method: 'bilinear', shorterSide: 256, crop: 'center' },
    }],
    ['bvlc', ['--input-size', '224x224', '--channels', 'bgr', '--mean', '103.94,116.78,123.68', '--std', '1,1,1', '--scale', '1', '--resize-method', 'area'], {
      inputSize: [224, 224], channels: 'bgr', mean: [103.94, 116.78, 123.68], std: [1, 1, 1], scale: 1,
      resize: { method: 'area', crop: 'none' },
    }],
  ] as const)('records the %s layout', async (layout, flags, preprocess) => {
    const output = join(work, `${layout}.safetensors`);
    expect(await googlenet('convert', fixture(layout), '-o', output, ...flags)).toMatchObject({ code: 0, stderr: '' });
    expect(decodeModelFile(new Uint8Array(readFileSync(output))).preprocess).toEqual(preprocess);
  });
});

describe('googlenet convert errors', () => {
  const out = () => join(work, 'never.safetensors');
  const npy = (dims: number[]) => ({ data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims });

  it.each<[string, () => string[], RegExp]>([
    ['no output', () => [seedOnnx], /^googlenet: convert needs -o OUT.safetensors \(see googlenet --help\)$/],
    ['no input', () => ['-o', out()], /^googlenet: convert takes exactly one ONNX file/],
    ['an unknown precision', () => [seedOnnx, '-o', out(), '--weights', 'int4'], /^googlenet: --weights must be one of int8, f16, f32/],
    ['an unknown flag', () => [seedOnnx, '-o', out(), '--quantize'], /^googlenet: Unknown option '--quantize'/],
    ['a flag of another command', () => [seedOnnx, '-o', out(), '--json'], /^googlenet: Unknown option '--json'/],
    ['a bad number', () => [seedOnnx, '-o', out(), '--mean', '0.5,abc'], /^googlenet: --mean: "abc" is not a number/],
    ['a bad fraction', () => [seedOnnx, '-o', out(), '--scale', '1/'], /^googlenet: --scale: "1\/" is not a number/],
    ['a mean per channel too many', () => [seedOnnx, '-o', out(), '--mean', '1,2,3'], /^googlenet: preprocess.mean must have 1 item, got 3$/],
    ['a channel order that does not fit', () => [seedOnnx, '-o', out(), '--channels', 'rgb'], /^googlenet: preprocess.channels "rgb" does not fit input "input" with 1 channel\(s\)$/],
    ['an input size that does not fit', () => [seedOnnx, '-o', out(), '--input-size', '224'], /^googlenet: preprocess.inputSize \[224, 224\] does not match input "input" \[1, 1, 96, 96\]$/],
    ['a resize without crop', () => [seedOnnx, '-o', out(), '--resize', '128', '--crop', 'none'], /^googlenet: preprocess.resize.shorterSide needs crop "center"/],
    ['labels that do not fit', () => [seedOnnx, '-o', out(), '--labels', write('three.txt', 'a\nb\nc\n')], /^googlenet: labels has 3 labels, output "\S+" \[1, 10\] has 10 classes$/],
    ['an output folder that does not exist', () => [seedOnnx, '-o', join(work, 'no-folder', 'x.safetensors')], /^googlenet: cannot write \S+x.safetensors: no such folder$/],
    ['a missing labels file', () => [seedOnnx, '-o', out(), '--labels', join(work, 'none.txt')], /^googlenet: cannot read \S+none.txt: no such file$/],
    ['a model file as input', () => [join(work, 'seed.safetensors'), '-o', out()], /^googlenet: \S+seed.safetensors is a model file already; convert reads ONNX files$/],
    ['a missing calibration folder', () => [seedOnnx, '-o', out(), '--calibrate', join(work, 'nowhere')], /^googlenet: --calibrate: cannot read the folder \S+nowhere: no such folder$/],
    ['an undecodable image to calibrate with', () => [seedOnnx, '-o', out(), '--calibrate', calibrationDir('images', { 'a.npy': npy([1, 1, 96, 96]), 'cat.png': npy([0]) })],
      /^googlenet: --calibrate: \S+cat.png: .+$/],
    ['nothing to calibrate with', () => [seedOnnx, '-o', out(), '--calibrate', calibrationDir('empty', {})], /^googlenet: --calibrate: \S+empty holds no .npy, PNG or JPEG files$/],
    ['a calibration tensor of the wrong shape', () => [seedOnnx, '-o', out(), '--calibrate', calibrationDir('wrong', { 'x.npy': npy([1, 3, 96, 96]) })],
      /^googlenet: \S+x.npy has shape \[1, 3, 96, 96\], the model input is \[N, 1, 96, 96\]$/],
  ])('%s: one line on stderr, exit 1', async (_case, args, message) => {
    const result = await googlenet('convert', ...args());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^googlenet: [^\n]+\n$/);
    expect(result.stderr.trim()).toMatch(message);
  });

  it.each(['convert', 'infer', 'inspect'])('%s --help describes the command', async (command) => {
    const { code, stdout } = await googlenet(command, '--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^googlenet ${command} `));
  });

  it('convert --help lists the preprocessing flags', async () => {
    const { stdout } = await googlenet('convert', '--help');
    for (const flag of ['-o, --output', '--weights', '--labels', '--calibrate', '--input-size', '--channels', '--scale', '--mean', '--std', '--resize', '--crop', '--resize-method']) {
      expect(stdout).toContain(flag);
    }
  });
});

describe('ProgressBar', () => {
  const recorder = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, stream: { isTTY, write: (text: string) => writes.push(text) } };
  };

  it('redraws one line in place on a terminal only when it changes, and clears it', () => {
    const { writes, stream } = recorder(true);
    const bar = new ProgressBar(stream);
    for (let done = 0; done <= 1000; done++) bar.update('storing weights', done, 1000);
    bar.clear();
    expect(writes.length).toBeLessThan(200);
    expect(writes[0]).toBe(`\r\x1b[Kstoring weights [${'.'.repeat(30)}] 0%`);
    expect(writes.at(-2)).toBe(`\r\x1b[Kstoring weights [${'#'.repeat(30)}] 100%`);
    expect(writes.at(-1)).toBe('\r\x1b[K');
  });

  it('draws nothing on a pipe or file', () => {
    const { writes, stream } = recorder(false);
    const bar = new ProgressBar(stream);
    bar.update('calibrating', 1, 2);
    bar.clear();
    expect(writes).toEqual([]);
  });
});
