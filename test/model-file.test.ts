/**
 * The compact model file: f16 and int8 encodings, round trips of the GoogLeNet fixtures in every precision, the
 * converted int8 and f16 models against onnxruntime, every validation failure on hand-made corrupt files, and
 * seeded random corruption.
 */

import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, ModelFormatError } from '../src/errors.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/format/f16.js';
import {
  decodeModelFile, encodeModelFile, isModelFile, type EncodeOptions, type ModelFile, type WeightPrecision,
} from '../src/format/model-file.js';
import type { Preprocess } from '../src/format/preprocess.js';
import { quantizePerChannel } from '../src/format/quantize.js';
import { parseSafetensors, writeSafetensors } from '../src/format/safetensors.js';
import type { Graph } from '../src/graph/ir.js';
import { importOnnx } from '../src/onnx/import.js';
import { collectActivationRanges } from '../src/runtime/calibrate.js';
import { loadModel, loadModelWithMetadata } from '../src/runtime/load.js';
import { GOOGLENET_FIXTURES, readFixture } from './support/fixtures.js';
import { imageLikeBatch } from './support/images.js';
import { randomFloats, relativeL2 } from './support/raw-kernels.js';

describe('f16 conversion', () => {
  it.each([
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [0, 0], [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [1 + 2 ** -11, 0x3c00], // halfway: ties to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway: ties to even (up)
    [2 ** -25, 0], // halfway between 0 and the smallest subnormal: even is 0
    [1.5 * 2 ** -25, 0x0001],
    [(2047 / 2048) * 2 ** -14, 0x0400], // rounds up out of the subnormals
    [65519, 0x7bff], [65520, 0x7c00], // the overflow threshold (ties to even goes to Infinity)
    [1e10, 0x7c00], [-Infinity, 0xfc00], [1e-10, 0],
  ])('%d → %s', (value, bits) => {
    expect(f32ToF16Bits(value)).toBe(bits);
  });

  it('turns NaN into a quiet NaN and round-trips every half exactly', () => {
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = f16BitsToF32(bits);
      if (!Number.isNaN(value) && f32ToF16Bits(value) !== bits) throw new Error(`half ${bits} did not round-trip`);
    }
  });
});

describe('int8 quantization', () => {
  it('scales each output channel by max|w| / 127 and rounds half to even', () => {
    const { values, scales } = quantizePerChannel({
      dims: [2, 5],
      // max 31.75 → scale 0.25 exactly; w / scale = 127, 0.5, 1.5, -2.5, 3.5
      data: Float32Array.from([31.75, 0.125, 0.375, -0.625, 0.875, 0, 0, 0, 0, 0]),
    });
    expect([...scales]).toEqual([0.25, 1]);
    expect([...values]).toEqual([127, 0, 2, -2, 4, 0, 0, 0, 0, 0]);
  });
});

const PRECISIONS: WeightPrecision[] = ['f32', 'f16', 'int8'];

describe.each(Object.entries(GOOGLENET_FIXTURES))('%s round trip', (_layout, file) => {
  const onnx = readFixture(file);
  const graph = importOnnx(onnx);
  const encoded = new Map<WeightPrecision, Uint8Array>();
  beforeAll(() => {
    for (const weights of PRECISIONS) encoded.set(weights, encodeModelFile(graph, { weights }));
  });

  it.each(PRECISIONS)('decodes the %s file to the same graph', (weights) => {
    const bytes = encoded.get(weights)!;
    expect(isModelFile(bytes)).toBe(true);
    const decoded = decodeModelFile(bytes);
    expect(decoded).toMatchObject({ weights, formatVersion: 1 });
    expect(decoded.graph.inputs).toEqual(graph.inputs);
    expect(decoded.graph.outputs).toEqual(graph.outputs);
    expect(decoded.graph.nodes).toEqual(graph.nodes);
    expect([...decoded.graph.weights.keys()].sort()).toEqual([...graph.weights.keys()].sort());

    const layerWeights = new Set(graph.nodes.flatMap((node) => (node.op === 'Conv' || node.op === 'Dense' ? [node.weight] : [])));
    for (const [name, original] of graph.weights) {
      const { dims, data } = decoded.graph.weights.get(name)!;
      expect(dims, name).toEqual(original.dims);
      const precision = layerWeights.has(name) ? weights : 'f32';
      expect(worstError(original.data, data, tolerance(precision, original.data, dims[0])), name).toBeLessThanOrEqual(1);
    }
  });

  it('writes int8 files at most 0.27 times, f16 files at most 0.51 times the ONNX size', () => {
    expect(encoded.get('int8')!.length / onnx.length).toBeLessThanOrEqual(0.27);
    expect(encoded.get('f16')!.length / onnx.length).toBeLessThanOrEqual(0.51);
  });
});

/**
 * Per element, how the error compares with what the precision allows: f32 exact, f16 half a unit in the last
 * place (2^-11 relative, 2^-25 absolute among subnormals), int8 half the channel's scale (plus the float32
 * rounding of q · scale).
 */
function tolerance(precision: WeightPrecision, original: Float32Array, channels: number): (i: number) => number {
  if (precision === 'f32') return () => 0;
  if (precision === 'f16') return (i) => Math.max(Math.abs(original[i]) * 2 ** -11, 2 ** -25);
  const { scales } = quantizePerChannel({ dims: [channels, original.length / channels], data: original });
  const rowLength = original.length / channels;
  return (i) => scales[Math.floor(i / rowLength)] / 2 + Math.abs(original[i]) * 2 ** -24;
}

/** The largest |error| / tolerance (or 0 / Infinity for an exact comparison). */
function worstError(expected: Float32Array, actual: Float32Array, allowed: (i: number) => number): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (error > 0) worst = Math.max(worst, error / allowed(i));
  }
  return worst;
}

describe.each([
  ['seed', 0.05],
  ['torchvision', 0.05],
] as const)('int8 %s model against onnxruntime on the ONNX file', (layout, maxRelativeL2) => {
  const onnx = readFixture(GOOGLENET_FIXTURES[layout]);
  const graph = importOnnx(onnx);
  const sample = graph.inputs[0].dims.slice(1);
  const SEEDS = [100, 102, 104, 106];
  let references: Float32Array[];

  beforeAll(async () => {
    const session = await ort.InferenceSession.create(onnx);
    references = [];
    for (const seed of SEEDS) {
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', imageLikeBatch(1, sample, seed), [1, ...sample]) };
      references.push((await session.run(feeds))[session.outputNames[0]].data as Float32Array);
    }
    await session.release();
  });

  // Weight-only rounding: measured 1.8–2.0 % (torchvision) and 2.3–3.8 % (seed) relative L2 for int8, < 0.1 % for f16.
  it.each([
    ['int8', maxRelativeL2],
    ['f16', 2e-3],
  ] as const)('%s weights: the same top-1 class and logits within the expected rounding', async (weights, bound) => {
    const { model, metadata } = await loadModelWithMetadata(encodeModelFile(graph, { weights }), { variant: 'simd' });
    expect(metadata?.weights).toBe(weights);
    SEEDS.forEach((seed, i) => {
      const logits = model.run(imageLikeBatch(1, sample, seed), [1, ...sample]).data;
      expect(argmax(logits), `input ${seed}`).toBe(argmax(references[i]));
      expect(relativeL2(logits, references[i]), `input ${seed}`).toBeLessThan(bound);
    });
    model.dispose();
  });
});

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** input [1, 3, 8, 8] → conv 3×3 (4 channels, ReLU) → max pool → global average pool → flatten → dense (3) → softmax */
function tinyGraph(): Graph {
  const weight = (dims: number[], seed: number) => ({ dims, data: randomFloats(dims.reduce((a, b) => a * b, 1), seed) });
  return {
    inputs: [{ name: 'image', dims: [1, 3, 8, 8] }],
    outputs: ['probabilities'],
    nodes: [
      { op: 'Conv', name: 'c1', inputs: ['image'], output: 'x1', weight: 'c1.weight', bias: 'c1.bias',
        kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], relu: true },
      { op: 'MaxPool', name: 'p1', inputs: ['x1'], output: 'x2', kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0],
        ceilMode: false, countIncludePad: false },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['x2'], output: 'x3' },
      { op: 'Reshape', name: 'flat', inputs: ['x3'], output: 'x4', dims: [1, 4] },
      { op: 'Dense', name: 'd1', inputs: ['x4'], output: 'logits', weight: 'd1.weight', bias: 'd1.bias', relu: false },
      { op: 'Softmax', name: 'sm', inputs: ['logits'], output: 'probabilities' },
    ],
    weights: new Map([
      ['c1.weight', weight([4, 3, 3, 3], 1)],
      ['c1.bias', weight([4], 2)],
      ['d1.weight', weight([3, 4], 3)],
      ['d1.bias', weight([3], 4)],
    ]),
  };
}

const TINY_OPTIONS: EncodeOptions = {
  weights: 'int8',
  labels: ['cat', 'dog', 'bird'],
  activationRanges: { image: [0, 1], x1: [0, 2.5] },
};

describe('model files of a small graph', () => {
  it('round-trip labels, preprocessing and activation ranges, and load and run by sniffing', async () => {
    const preprocess: Preprocess = {
      inputSize: [8, 8], channels: 'bgr', mean: [103.94, 116.78, 123.68], std: [1, 1, 1], scale: 1,
      resize: { method: 'area', shorterSide: 9, crop: 'center' },
    };
    const bytes = encodeModelFile(tinyGraph(), { ...TINY_OPTIONS, preprocess });
    const decoded: ModelFile = decodeModelFile(bytes);
    expect(decoded).toMatchObject({ labels: TINY_OPTIONS.labels, activationRanges: TINY_OPTIONS.activationRanges, preprocess });

    const { model, metadata } = await loadModelWithMetadata(bytes.buffer as ArrayBuffer, { variant: 'scalar' });
    expect(metadata).toEqual({ ...decoded, graph: undefined });
    const probabilities = model.run(randomFloats(192, 5).map(Math.abs), [1, 3, 8, 8]).data;
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect((await loadModelWithMetadata(readFixture(GOOGLENET_FIXTURES.seed))).metadata).toBeUndefined();
  });

  it('loadModel has its own copy of the weights it decoded in place: overwriting the file afterwards changes nothing', async () => {
    const bytes = encodeModelFile(tinyGraph(), { weights: 'int8' });
    const input = randomFloats(192, 8).map(Math.abs);
    const model = await loadModel(bytes, { variant: 'scalar' });
    const before = model.run(input, [1, 3, 8, 8]).data;
    bytes.fill(0x5a);
    expect(model.run(input, [1, 3, 8, 8]).data).toEqual(before);
    expect(new Set(before).size).toBeGreaterThan(1);
  });

  it('decodes from a Node Buffer holding the file inside a larger allocation, as fs.readFileSync gives it', () => {
    const bytes = encodeModelFile(tinyGraph(), { weights: 'int8' });
    const pool = Buffer.alloc(bytes.length + 100, 0x55); // readFileSync's small Buffers share a pool like this
    pool.set(bytes, 37);
    const fromBuffer = decodeModelFile(pool.subarray(37, 37 + bytes.length));
    expect([...fromBuffer.graph.weights]).toEqual([...decodeModelFile(bytes).graph.weights]);
  });

  it('with viewWeights, reads int8 values and aligned float32 tensors in place, and copies unaligned ones', () => {
    for (const weights of ['int8', 'f32'] as const) {
      const bytes = encodeModelFile(tinyGraph(), { weights });
      const copied = decodeModelFile(bytes).graph.weights;
      for (const shift of [0, 1]) {
        const file = new Uint8Array(bytes.length + shift);
        file.set(bytes, shift);
        const viewed = decodeModelFile(file.subarray(shift), { viewWeights: true }).graph.weights;
        expect([...viewed.keys()]).toEqual([...copied.keys()]);
        for (const [name, weight] of viewed) {
          const { data, int8 } = copied.get(name)!;
          expect(weight.int8 ? [weight.int8.values, weight.int8.scales] : [weight.data]).toEqual(int8 ? [int8.values, int8.scales] : [data]);
          const elements = weight.int8?.values ?? weight.data;
          // int8 values are always views; float32 ones only where the file's placement keeps them aligned.
          expect(elements.buffer === file.buffer, `${weights} ${name}, shifted ${shift}`).toBe(Boolean(weight.int8) || shift === 0);
        }
      }
    }
  });

  it('default preprocessing comes from the input shape', () => {
    expect(decodeModelFile(encodeModelFile(tinyGraph(), { weights: 'f32' })).preprocess).toEqual({
      inputSize: [8, 8], channels: 'rgb', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 / 255,
      resize: { method: 'bilinear', crop: 'none' },
    });
  });

  it('needs preprocessing given for an input that is not an image', () => {
    const graph: Graph = {
      inputs: [{ name: 'features', dims: [1, 4] }],
      outputs: ['scores'],
      nodes: [{ op: 'Dense', name: 'd1', inputs: ['features'], output: 'scores', weight: 'd1.weight', relu: false }],
      weights: new Map([['d1.weight', { dims: [3, 4], data: randomFloats(12, 6) }]]),
    };
    const error = thrownBy(() => encodeModelFile(graph, { weights: 'int8' }));
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe(
      'default preprocessing describes images, but input "features" [1, 4] is not [1, 1 or 3, H, W]; give the preprocessing explicitly',
    );
  });

  it('sniffs model files apart from ONNX', () => {
    expect(isModelFile(readFixture(GOOGLENET_FIXTURES.seed))).toBe(false);
    expect(isModelFile(new Uint8Array(4))).toBe(false);
    expect(isModelFile(encodeModelFile(tinyGraph(), { weights: 'f16' }))).toBe(true);
  });

  it.each([
    [{ weights: 'int4' }, /^weights must be one of int8, f16, f32, got "int4"$/],
    [{ labels: ['a', 'b'] }, /^labels has 2 labels, output "probabilities" \[1, 3\] has 3 classes$/],
    [{ preprocess: { mean: [0, 0] } }, /^preprocess.mean must have 3 items, got 2$/],
    [{ preprocess: { std: [1, 0, 1] } }, /^preprocess.std\[1\] must be positive, got 0$/],
    [{ preprocess: { channels: 'gray' } }, /^preprocess.channels "gray" does not fit input "image" with 3 channel\(s\)$/],
    [{ preprocess: { inputSize: [224, 224] } }, /^preprocess.inputSize \[224, 224\] does not match input "image" \[1, 3, 8, 8\]$/],
    [{ preprocess: { resize: { method: 'bilinear', crop: 'none', shorterSide: 9 } } }, /^preprocess.resize.shorterSide needs crop "center"/],
    [{ preprocess: { resize: { method: 'bilinear', crop: 'center', shorterSide: 7 } } }, /^preprocess.resize.shorterSide must be an integer ≥ 8, got 7$/],
    [{ preprocess: { scale: NaN } }, /^preprocess.scale must be a finite number, got NaN$/],
    [{ preprocess: { extra: 1 } }, /^preprocess has an unknown field "extra"$/],
    [{ activationRanges: { nowhere: [0, 1] } }, /^activationRanges names tensor "nowhere", which the graph does not have$/],
    [{ activationRanges: { x1: [2, 1] } }, /^activationRanges.x1 \[2, 1\] is not a range/],
  ])('rejects bad options with an InputError naming the option: %j', (change, message) => {
    const defaults = decodeModelFile(encodeModelFile(tinyGraph(), { weights: 'f32' })).preprocess;
    const { preprocess, ...rest } = change as Partial<Record<string, unknown>>;
    const options = { ...TINY_OPTIONS, ...rest, preprocess: preprocess && { ...defaults, ...(preprocess as object) } };
    const error = thrownBy(() => encodeModelFile(tinyGraph(), options as EncodeOptions));
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses weights it cannot store', () => {
    const graph = tinyGraph();
    graph.weights.get('c1.bias')!.data[2] = NaN;
    expect(() => encodeModelFile(graph, { weights: 'int8' })).toThrow(/weight "c1.bias" holds NaN at index 2/);
    graph.weights.get('c1.bias')!.data[2] = 0;
    graph.weights.get('d1.weight')!.data[1] = 1e6;
    expect(() => encodeModelFile(graph, { weights: 'f16' })).toThrow(/weight "d1.weight" holds 1000000, too large for f16/);
    expect(() => encodeModelFile(tinyGraph(), { weights: 'int8', preprocess: undefined, labels: undefined })).not.toThrow();
  });
});

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
}

/** A model file taken apart: its header JSON and its data buffer, to corrupt and put back together. */
interface Parts {
  header: Record<string, any>;
  data: Uint8Array;
}

function split(bytes: Uint8Array): Parts {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))),
    data: bytes.slice(8 + length),
  };
}

function join({ header, data }: Parts, headerText: string | Uint8Array = JSON.stringify(header)): Uint8Array {
  const json = typeof headerText === 'string' ? new TextEncoder().encode(headerText) : headerText;
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  return bytes;
}

/** The valid small int8 file, changed by `change` (which may edit the parts or return other bytes). */
function corrupted(change: (parts: Parts, metadata: Record<string, any>) => Uint8Array | void): Uint8Array {
  const parts = split(encodeModelFile(tinyGraph(), TINY_OPTIONS));
  const metadata = Object.fromEntries(
    Object.entries(parts.header.__metadata__ as Record<string, string>).map(([key, value]) => [key, key === 'format' || key === 'format_version' || key === 'weights' ? value : JSON.parse(value)]),
  );
  const replaced = change(parts, metadata);
  if (replaced) return replaced;
  parts.header.__metadata__ = Object.fromEntries(
    Object.entries(metadata).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
  return join(parts);
}

/** Data offsets of a tensor in the valid file. */
function spanOf(parts: Parts, name: string): [number, number] {
  return parts.header[name].data_offsets;
}

function setFloat(parts: Parts, name: string, index: number, value: number): void {
  new DataView(parts.data.buffer).setFloat32(spanOf(parts, name)[0] + index * 4, value, true);
}

/** Two F32 tensors "a" and "b" with the given offsets over a data buffer of `dataBytes` bytes. */
function twoTensors(a: [number, number], b: [number, number], dataBytes: number): Uint8Array {
  const entry = ([begin, end]: [number, number]) => ({
    dtype: 'F32', shape: [Math.max(0, Math.floor((end - begin) / 4))], data_offsets: [begin, end],
  });
  return join({ header: { a: entry(a), b: entry(b) }, data: new Uint8Array(dataBytes) });
}

const CORRUPTIONS: [string, () => Uint8Array, string | RegExp][] = [
  ['a file shorter than the header length', () => new Uint8Array(5), 'model file: the file has 5 bytes, fewer than the 8-byte header length that starts it'],
  ['a header past the end', () => corrupted((parts) => {
    const bytes = join(parts);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length - 7), true);
    return bytes;
  }), /^model file: header length \d+ runs past the end of the file \(\d+ bytes\)$/],
  ['a header length of 2^53', () => corrupted((parts) => {
    const bytes = join(parts);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 53n, true);
    return bytes;
  }), 'model file: header length 9007199254740992 is over the 104857600-byte limit'],
  ['a header length of 2^64 - 1', () => corrupted((parts) => {
    const bytes = join(parts);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    return bytes;
  }), /header length 18446744073709551615 is over/],
  ['invalid JSON', () => join({ header: {}, data: new Uint8Array() }, '{"a": '), /^model file: the header is not valid JSON: /],
  ['invalid UTF-8', () => join({ header: {}, data: new Uint8Array() }, Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
    'model file: the header is not valid UTF-8'],
  ['a header that is not an object', () => join({ header: {}, data: new Uint8Array() }, '[1, 2]'), 'model file: the header must be a JSON object, got [1,2]'],
  ['a tensor entry that is not an object', () => join({ header: { a: 3 } as any, data: new Uint8Array() }), 'model file: tensor "a" must be a JSON object, got 3'],
  ['a tensor entry with an unknown field', () => corrupted(({ header }) => { header['c1.bias'].offset = 3; }), 'model file: tensor "c1.bias" has an unknown field "offset"'],
  ['a tensor entry with a misspelt field (three fields still)', () => corrupted(({ header }) => {
    header['c1.bias'].offsets = header['c1.bias'].data_offsets;
    delete header['c1.bias'].data_offsets;
  }), 'model file: tensor "c1.bias" has an unknown field "offsets"'],
  ['a tensor entry that is an array', () => join({ header: { a: ['F32', [1], [0, 4]] } as any, data: new Uint8Array(4) }),
    'model file: tensor "a" must be a JSON object, got ["F32",[1],[0,4]]'],
  ['a dtype inherited by every object', () => corrupted(({ header }) => { header['c1.bias'].dtype = 'constructor'; }),
    /^model file: tensor "c1.bias": dtype must be one of BOOL, .*, got "constructor"$/],
  ['an unknown dtype', () => corrupted(({ header }) => { header['c1.weight'].dtype = 'Q4'; }), /^model file: tensor "c1.weight": dtype must be one of BOOL, .*, got "Q4"$/],
  ['a negative dimension', () => corrupted(({ header }) => { header['c1.weight'].shape = [4, -3, 3, 3]; }), 'model file: tensor "c1.weight": shape[1] must be an integer ≥ 0, got -3'],
  ['a shape that does not fit the offsets', () => corrupted(({ header }) => { header['c1.weight'].shape = [4, 3, 3, 2]; }),
    /^model file: tensor "c1.weight": data_offsets \[\d+, \d+\] hold 108 bytes; shape \[4, 3, 3, 2\] of I8 needs 72$/],
  ['an absurd shape', () => corrupted(({ header }) => { header['c1.weight'].shape = [2 ** 50, 2 ** 50, 2 ** 50]; }),
    /^model file: tensor "c1.weight": data_offsets \[\d+, \d+\] hold 108 bytes; shape \[1125899906842624, .* needs 1\.4\d*e\+45$/],
  ['decreasing offsets', () => twoTensors([0, 8], [10, 5], 16), 'model file: tensor "b": data_offsets [10, 5] end before they begin'],
  ['overlapping offsets', () => twoTensors([0, 8], [4, 12], 12), 'model file: tensor "b": data_offsets [4, 12] overlap tensor "a" [0, 8]'],
  ['a gap between tensors', () => twoTensors([0, 8], [12, 20], 20), 'model file: tensor "b": data_offsets [12, 20] leave a gap after tensor "a" [0, 8]'],
  ['a gap at the start', () => twoTensors([4, 8], [8, 12], 12), 'model file: tensor "a": data_offsets [4, 8] leave a gap after the start of the data'],
  ['offsets past the end', () => twoTensors([0, 8], [8, 16], 12), 'model file: tensor "b": data_offsets [8, 16] run past the end of the data (12 bytes)'],
  ['bytes after the last tensor', () => twoTensors([0, 8], [8, 12], 16), 'model file: the data buffer has 4 bytes after the last tensor, which no tensor covers'],
  ['non-integer offsets', () => twoTensors([0, 8], [8, 12.5], 16), 'model file: tensor "b": data_offsets[1] must be an integer ≥ 0, got 12.5'],
  ['no metadata', () => twoTensors([0, 8], [8, 12], 12), 'model file: __metadata__ is missing: this safetensors file is not a googlenet-wasm model'],
  ['a metadata value that is not a string', () => corrupted((parts) => {
    parts.header.__metadata__ = { format: 1 };
    return join(parts);
  }), 'model file: __metadata__ value "format" must be a string, got 1'],
  ['another format', () => corrupted((_, metadata) => { metadata.format = 'gguf'; }), 'model file: __metadata__.format "gguf" is not "googlenet-wasm"'],
  ['an unsupported version', () => corrupted((_, metadata) => { metadata.format_version = '9'; }), 'model file: __metadata__.format_version "9" is not supported (expected 1)'],
  ['a missing metadata field', () => corrupted((_, metadata) => { delete metadata.graph; }), 'model file: __metadata__ is missing the field "graph"'],
  ['an unknown metadata field', () => corrupted((_, metadata) => { metadata.extra = 'x'; }), 'model file: __metadata__ has an unknown field "extra"'],
  ['graph JSON that does not parse', () => corrupted((parts) => {
    parts.header.__metadata__.graph = '{"inputs": [';
    return join(parts);
  }), /^model file: __metadata__.graph is not valid JSON: /],
  ['an unknown weight precision', () => corrupted((_, metadata) => { metadata.weights = 'int4'; }), 'model file: __metadata__.weights must be one of int8, f16, f32, got "int4"'],
  ['an unknown op', () => corrupted((_, { graph }) => { graph.nodes[2].op = 'Frobnicate'; }),
    /^model file: __metadata__.graph.nodes\[2\].op must be one of Conv, .*, got "Frobnicate"$/],
  ['an attribute out of range', () => corrupted((_, { graph }) => { graph.nodes[0].kernel = [0, 3]; }),
    'model file: __metadata__.graph.nodes[0] "c1" (Conv).kernel[0] must be an integer ≥ 1, got 0'],
  ['an attribute of the wrong type', () => corrupted((_, { graph }) => { graph.nodes[1].ceilMode = 'yes'; }),
    'model file: __metadata__.graph.nodes[1] "p1" (MaxPool).ceilMode must be true or false, got "yes"'],
  ['a missing attribute', () => corrupted((_, { graph }) => { delete graph.nodes[1].stride; }),
    'model file: __metadata__.graph.nodes[1] "p1" (MaxPool) is missing the field "stride"'],
  ['an attribute of another op', () => corrupted((_, { graph }) => { graph.nodes[2].relu = true; }),
    'model file: __metadata__.graph.nodes[2] "gap" (GlobalAveragePool) has an unknown field "relu"'],
  ['a graph without inputs', () => corrupted((_, { graph }) => { graph.inputs = []; }), 'model file: __metadata__.graph.inputs must not be empty'],
  ['a tensor too large for wasm memory', () => corrupted((_, { graph }) => { graph.inputs[0].dims = [1, 3, 65536, 65536]; }),
    'model file: __metadata__.graph: tensor "image" [1, 3, 65536, 65536] is too large for a wasm memory'],
  ['two nodes of the same name', () => corrupted((_, { graph }) => { graph.nodes[2].name = 'p1'; }),
    'model file: __metadata__.graph.nodes[2].name "p1" is used by an earlier node too'],
  ['an input read before it is computed', () => corrupted((_, { graph }) => { graph.nodes[1].inputs = ['x3']; }),
    'model file: __metadata__.graph: node "p1" (MaxPool): input "x3" is neither a graph input nor produced by an earlier node'],
  ['a graph referencing a missing tensor', () => corrupted((_, { graph }) => { graph.nodes[4].bias = 'd1.offset'; }),
    'model file: __metadata__.graph: node "d1" (Dense) reads weight "d1.offset", which is no tensor of the file'],
  ['a tensor no node reads', () => corrupted((_, { graph }) => { delete graph.nodes[4].bias; }),
    'model file: tensor "d1.bias" is not read by any node of __metadata__.graph'],
  ['a weight with the wrong shape', () => corrupted(({ header }) => { header['c1.weight'].shape = [4, 3, 9]; }),
    'model file: __metadata__.graph: node "c1" (Conv): weight "c1.weight" must be 4-D [out, in, kH, kW], got [4, 3, 9]'],
  ['a weight that does not fit its node', () => corrupted(({ header }) => { header['c1.weight'].shape = [4, 3, 1, 9]; }),
    'model file: __metadata__.graph: node "c1" (Conv): kernel [3, 3] does not match weight "c1.weight" [4, 3, 1, 9]'],
  ['scales of the wrong shape', () => corrupted(({ header }) => { header['c1.weight'].shape = [2, 6, 3, 3]; }),
    'model file: tensor "c1.weight.scale": the scales of "c1.weight" must be F32 [2], got F32 [4]'],
  ['missing scales', () => corrupted((parts) => {
    const [begin, end] = spanOf(parts, 'c1.weight.scale');
    delete parts.header['c1.weight.scale'];
    for (const entry of Object.values(parts.header)) {
      if (entry.data_offsets?.[0] >= end) entry.data_offsets = entry.data_offsets.map((at: number) => at - (end - begin));
    }
    parts.data = Uint8Array.from([...parts.data.subarray(0, begin), ...parts.data.subarray(end)]);
  }), 'model file: tensor "c1.weight": its scales, tensor "c1.weight.scale", are missing'],
  ['a NaN scale', () => corrupted((parts) => setFloat(parts, 'c1.weight.scale', 1, NaN)),
    'model file: tensor "c1.weight.scale": scale 1 is NaN; scales must be finite and positive'],
  ['a negative scale', () => corrupted((parts) => setFloat(parts, 'c1.weight.scale', 2, -0.5)),
    'model file: tensor "c1.weight.scale": scale 2 is -0.5; scales must be finite and positive'],
  ['a zero scale', () => corrupted((parts) => setFloat(parts, 'd1.weight.scale', 0, 0)),
    'model file: tensor "d1.weight.scale": scale 0 is 0; scales must be finite and positive'],
  ['an infinite scale', () => corrupted((parts) => setFloat(parts, 'd1.weight.scale', 0, Infinity)),
    'model file: tensor "d1.weight.scale": scale 0 is Infinity; scales must be finite and positive'],
  ['a NaN bias', () => corrupted((parts) => setFloat(parts, 'c1.bias', 3, NaN)), 'model file: tensor "c1.bias": value 3 is NaN'],
  ['a weight in the wrong precision', () => corrupted((_, metadata) => { metadata.weights = 'f16'; }),
    'model file: tensor "c1.weight": dtype I8 should be F16: it is a Conv weight of a "f16" file'],
  ['a bias that is not F32', () => corrupted(({ header }) => { header['c1.bias'].dtype = 'I32'; }),
    'model file: tensor "c1.bias": dtype I32 should be F32: it is not a Conv or Dense weight'],
  ['labels that do not fit the output', () => corrupted((_, metadata) => { metadata.labels = ['cat']; }),
    'model file: __metadata__.labels has 1 label, output "probabilities" [1, 3] has 3 classes'],
  ['preprocessing that does not fit the input', () => corrupted((_, { preprocess }) => { preprocess.mean = [0]; }),
    'model file: __metadata__.preprocess.mean must have 3 items, got 1'],
  ['an unknown channel order', () => corrupted((_, { preprocess }) => { preprocess.channels = 'cmyk'; }),
    'model file: __metadata__.preprocess.channels must be one of rgb, bgr, gray, got "cmyk"'],
  ['activation ranges of unknown tensors', () => corrupted((_, metadata) => { metadata.activation_ranges = { x9: [0, 1] }; }),
    'model file: __metadata__.activation_ranges names tensor "x9", which the graph does not have'],
];

describe('decodeModelFile rejects corrupt files with a ModelFormatError naming the tensor or field', () => {
  it.each(CORRUPTIONS)('%s', (_name, make, message) => {
    const error = thrownBy(() => decodeModelFile(make()));
    expect(error).toBeInstanceOf(ModelFormatError);
    if (typeof message === 'string') expect((error as Error).message).toBe(message);
    else expect((error as Error).message).toMatch(message);
  });

  it('takes an int8 value of -128, which this package never writes, as -128 × its scale (not corrupt)', () => {
    const bytes = corrupted((parts) => { parts.data[spanOf(parts, 'c1.weight')[0] + 5] = 0x80; });
    const weight = decodeModelFile(bytes).graph.weights.get('c1.weight')!;
    expect(weight.int8!.values[5]).toBe(-128);
    expect(weight.data[5]).toBe(Math.fround(-128 * weight.int8!.scales[0]));
  });

  it('reads f16 infinities as corrupt too', () => {
    const parts = split(encodeModelFile(tinyGraph(), { weights: 'f16' }));
    new DataView(parts.data.buffer).setUint16(spanOf(parts, 'c1.weight')[0] + 2 * 7, 0x7c00, true);
    expect(() => decodeModelFile(join(parts))).toThrow('model file: tensor "c1.weight": value 7 is Infinity');
  });

  it('loadModel sniffs a model file and reports its errors', async () => {
    const bytes = CORRUPTIONS.find(([name]) => name === 'an unsupported version')![1]();
    await expect(loadModel(bytes)).rejects.toThrow(/format_version "9" is not supported/);
  });

  it('never throws anything but ModelFormatError on seeded random truncations and byte flips', () => {
    const valid = encodeModelFile(tinyGraph(), TINY_OPTIONS);
    const headerEnd = 8 + Number(new DataView(valid.buffer).getBigUint64(0, true));
    const random = randomFloats(10_000, 99);
    let cursor = 0;
    const below = (limit: number) => Math.floor(((random[cursor++] + 1) / 2) * limit);
    const outcomes = { decoded: 0, rejected: 0 };
    for (let trial = 0; trial < 400; trial++) {
      let bytes: Uint8Array;
      if (trial % 4 === 0) {
        bytes = valid.subarray(0, below(valid.length));
      } else {
        bytes = valid.slice();
        // Most flips land in the header, where a changed byte changes the meaning most.
        const region = below(10) < 8 ? headerEnd : valid.length;
        for (let flips = 1 + below(3); flips > 0; flips--) bytes[below(region)] ^= 1 << below(8);
      }
      try {
        decodeModelFile(bytes);
        outcomes.decoded++;
      } catch (error) {
        if (!(error instanceof ModelFormatError)) throw new Error(`trial ${trial}: ${String(error)}`);
        outcomes.rejected++;
      }
    }
    expect(outcomes.rejected).toBeGreaterThan(250);
  });
});

describe('safetensors container', () => {
  it('writes aligned tensors that read back unchanged', () => {
    const tensors = new Map([
      ['bytes', { dtype: 'I8' as const, shape: [3], bytes: Uint8Array.from([1, 2, 255]) }],
      ['floats', { dtype: 'F32' as const, shape: [2, 1], bytes: new Uint8Array(Float32Array.from([1.5, -2]).buffer) }],
      ['empty', { dtype: 'F16' as const, shape: [0, 4], bytes: new Uint8Array() }],
    ]);
    const file = writeSafetensors(tensors, { note: 'hi' });
    const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const parsed = parseSafetensors(file);
    expect(parsed.metadata).toEqual({ note: 'hi' });
    expect(parsed.tensors).toEqual(tensors);
    expect(parsed.tensors.get('floats')!.bytes.byteOffset % 4).toBe(0);
  });

  it('lays out a converted model exactly as the safetensors specification says (read here without our parser)', () => {
    const file = encodeModelFile(importOnnx(readFixture(GOOGLENET_FIXTURES.seed)), { weights: 'int8' });
    // Spec: u64 little-endian header size N, N bytes of UTF-8 JSON, then the byte buffer; data_offsets are
    // [begin, end) relative to the buffer, and the tensors cover it without gaps or overlaps.
    const headerLength = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLength)));
    const buffer = file.subarray(8 + headerLength);
    const entries = Object.entries(header).filter(([name]) => name !== '__metadata__') as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
    const bytesPerElement: Record<string, number> = { I8: 1, F16: 2, F32: 4, I32: 4 };
    const spans = entries.map(([, { dtype, shape, data_offsets: [begin, end] }]) => {
      expect(end - begin).toBe(shape.reduce((a, b) => a * b, 1) * bytesPerElement[dtype]);
      return [begin, end];
    }).sort((a, b) => a[0] - b[0]);
    expect(spans[0][0]).toBe(0);
    spans.slice(1).forEach(([begin], i) => expect(begin).toBe(spans[i][1]));
    expect(spans[spans.length - 1][1]).toBe(buffer.length);
    expect(Object.values(header.__metadata__).every((value) => typeof value === 'string')).toBe(true);
    const [, scale] = entries.find(([name]) => name === 'b1.conv.weight.scale')!;
    const first = new DataView(buffer.buffer, buffer.byteOffset + scale.data_offsets[0]).getFloat32(0, true);
    expect(first).toBeGreaterThan(0);
  });
});

describe('collectActivationRanges', () => {
  it('records the [min, max] of the input and every node output over all samples', async () => {
    const graph = importOnnx(readFixture(GOOGLENET_FIXTURES.seed));
    const input = imageLikeBatch(3, [1, 96, 96]);
    const ranges = await collectActivationRanges(graph, [[{ data: input, dims: [3, 1, 96, 96] }]], { variant: 'simd' });
    expect(Object.keys(ranges).sort()).toEqual([graph.inputs[0].name, ...graph.nodes.map((node) => node.output)].sort());
    expect(ranges[graph.inputs[0].name]).toEqual([Math.min(...input), Math.max(...input)]);

    const middle = graph.nodes[Math.floor(graph.nodes.length / 2)].output;
    const model = await loadModel({ ...graph, outputs: [middle] }, { variant: 'simd' });
    const values = model.run(input, [3, 1, 96, 96]).data;
    expect(ranges[middle]).toEqual([Math.min(...values), Math.max(...values)]);
    expect(ranges[middle][1]).toBeGreaterThan(ranges[middle][0]);
  });
});
