/**
 * What the fuzzer attacks: each target has valid inputs to mutate, what the mutators should know about its
 * format, and the call that must either succeed or throw a typed error (see run.ts for what counts as a crash).
 */

import { existsSync, readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { decodeImage } from '../../src/image/decode.js';
import { decodeModelFile, encodeModelFile } from '../../src/format/model-file.js';
import type { Graph } from '../../src/graph/ir.js';
import { importOnnx } from '../../src/onnx/import.js';
import { loadModel } from '../../src/runtime/load.js';
import type { Model } from '../../src/runtime/model.js';
import { createHandler, type Handler } from '../../src/serve/handler.js';
import { FIXTURE_DIR } from '../support/fixtures.js';
import { graphToOnnx } from '../support/onnx-builder.js';
import { crc32 } from '../support/image-files.js';
import { SAMPLES } from '../support/samples.js';
import { MUTATORS, type Format, type LengthField, type MutatorName, type Rng } from './mutate.js';

export interface FuzzTarget {
  name: string;
  /** The valid inputs mutations start from (and splices take bytes from). */
  corpus: Uint8Array[];
  /** Picks the input a case mutates; default: any of the corpus. */
  base?(rng: Rng): Uint8Array;
  format: Format;
  mutators: readonly MutatorName[];
  /** Makes a mutated input pass checks that would stop nearly every mutation early (e.g. checksums). */
  repair?(input: Uint8Array, rng: Rng): Uint8Array;
  /**
   * Succeeds, or throws a GoogLeNetError, or returns REJECTED for a refusal that is an answer (an HTTP 4xx);
   * anything else (or a FuzzFailure) is a crash.
   */
  run(input: Uint8Array, rng: Rng): unknown;
}

export const REJECTED = Symbol('rejected');

/** A target's own finding that is not an exception of the code under test (e.g. an HTTP 500). */
export class FuzzFailure extends Error {}

const ALL_MUTATORS = Object.keys(MUTATORS) as MutatorName[];
const MODEL_FILE = new URL('../../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url);

/** Conv → max pool → LRN → two branches concatenated → average pool → dense → softmax, on a 3×12×12 image. */
export function tinyGraph(): Graph {
  const weight = (dims: number[], seed: number) => ({
    dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) / 2),
  });
  const same: [number, number, number, number] = [1, 1, 1, 1];
  return {
    inputs: [{ name: 'image', dims: [1, 3, 12, 12] }],
    outputs: ['probabilities'],
    weights: new Map([
      ['conv.w', weight([4, 3, 3, 3], 1)], ['conv.b', weight([4], 2)],
      ['left.w', weight([3, 4, 1, 1], 3)], ['right.w', weight([2, 4, 3, 3], 4)], ['right.b', weight([2], 5)],
      ['fc.w', weight([5, 5], 6)], ['fc.b', weight([5], 7)],
    ]),
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['image'], output: 'c1', weight: 'conv.w', bias: 'conv.b', kernel: [3, 3], stride: [1, 1], pads: same, relu: true },
      { op: 'MaxPool', name: 'pool', inputs: ['c1'], output: 'p1', kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0], ceilMode: false, countIncludePad: false },
      { op: 'LRN', name: 'norm', inputs: ['p1'], output: 'n1', size: 3, alpha: 1e-4, beta: 0.75, bias: 1 },
      { op: 'Conv', name: 'left', inputs: ['n1'], output: 'l1', weight: 'left.w', kernel: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], relu: false },
      { op: 'Conv', name: 'right', inputs: ['n1'], output: 'r1', weight: 'right.w', bias: 'right.b', kernel: [3, 3], stride: [1, 1], pads: same, relu: true },
      { op: 'Concat', name: 'join', inputs: ['l1', 'r1'], output: 'j1' },
      { op: 'AveragePool', name: 'avg', inputs: ['j1'], output: 'a1', kernel: [3, 3], stride: [3, 3], pads: [0, 0, 0, 0], ceilMode: false, countIncludePad: false },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['a1'], output: 'g1' },
      { op: 'Reshape', name: 'flat', inputs: ['g1'], output: 'f1', dims: [1, 5] },
      { op: 'Dense', name: 'fc', inputs: ['f1'], output: 'logits', weight: 'fc.w', bias: 'fc.b', relu: false },
      { op: 'Softmax', name: 'softmax', inputs: ['logits'], output: 'probabilities' },
    ],
  } as Graph;
}

const HOSTILE_JSON_VALUES: unknown[] = [
  -1, 0, 1.5, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 1e308, -1e308, '', 'x'.repeat(1000), null, true, [], {}, [[]], [-1, 2 ** 40],
  [1, 3, 100000, 100000], [0, 0], ['a'], { a: 1 }, 'F32', 'I8', 'Conv', '__proto__',
];

/** One JSON value (anywhere, also inside the metadata strings that hold JSON) replaced, removed or duplicated. */
function mutateJson(value: unknown, rng: Rng, depth = 0): unknown {
  if (typeof value === 'string' && depth > 0 && /^[[{]/.test(value) && rng.next() < 0.7) {
    try {
      return JSON.stringify(mutateJson(JSON.parse(value), rng, depth + 1));
    } catch {
      // not JSON after all: mutate it as a plain value below
    }
  }
  if (Array.isArray(value) && value.length > 0 && rng.next() < 0.85) {
    const copy = [...value];
    const at = rng.below(copy.length);
    const roll = rng.next();
    if (roll < 0.1) copy.splice(at, 1);
    else if (roll < 0.2) copy.push(copy[at]);
    else copy[at] = mutateJson(copy[at], rng, depth + 1);
    return copy;
  }
  if (value && typeof value === 'object' && Object.keys(value).length > 0 && rng.next() < 0.85) {
    const copy: Record<string, unknown> = { ...value };
    const key = rng.pick(Object.keys(copy));
    if (rng.next() < 0.1) delete copy[key];
    else copy[key] = mutateJson(copy[key], rng, depth + 1);
    return copy;
  }
  return rng.pick(HOSTILE_JSON_VALUES);
}

function headerLength(bytes: Uint8Array): number {
  return bytes.length < 8 ? 0 : Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

/** Half the model-file mutations keep the header valid JSON, so that they reach the checks behind the parser. */
const MODEL_FILE_MUTATORS: MutatorName[] = [...ALL_MUTATORS, ...Array<MutatorName>(6).fill('structure')];

/** The safetensors header (length field and JSON) is where the structure is; the rest is weight data. */
const safetensorsFormat: Format = {
  lengthFields: () => [{ at: 0, bytes: 8, littleEndian: true }],
  focus: (bytes) => [0, Math.min(bytes.length, 8 + headerLength(bytes))],
  mutateStructure: (bytes, rng) => {
    const end = Math.min(bytes.length, 8 + headerLength(bytes));
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, end)));
    } catch {
      return bytes; // an earlier mutation broke the JSON
    }
    // Most tensors' entries look alike; the metadata (graph, preprocessing, labels) is where the variety is.
    const metadata = (header as Record<string, unknown>)?.__metadata__;
    const mutated = metadata && rng.next() < 0.7
      ? { ...(header as object), __metadata__: mutateJson(metadata, rng, 1) } : mutateJson(header, rng);
    const json = new TextEncoder().encode(JSON.stringify(mutated));
    const output = new Uint8Array(8 + json.length + bytes.length - end);
    new DataView(output.buffer).setBigUint64(0, BigInt(json.length), true);
    output.set(json, 8);
    output.set(bytes.subarray(end), 8 + json.length);
    return output;
  },
};

/** Model files: the shipped one (one case in 20: each decodes 6 MB of weights) and small ones of each precision. */
export function modelFileTarget(): FuzzTarget {
  const shipped = new Uint8Array(readFileSync(MODEL_FILE));
  const small = (['int8', 'f16', 'f32'] as const).map((weights) => encodeModelFile(tinyGraph(), { weights, labels: ['a', 'b', 'c', 'd', 'e'] }));
  return {
    name: 'model file (decodeModelFile)',
    corpus: [shipped, ...small],
    base: (rng) => (rng.next() < 0.05 ? shipped : rng.pick(small)),
    format: safetensorsFormat,
    mutators: MODEL_FILE_MUTATORS,
    run: (input) => decodeModelFile(input),
  };
}

/** Whole loads (decode, checks, kernels, memory layout) of mutated small model files and ONNX models. */
export function loadModelTarget(): FuzzTarget {
  const files = [encodeModelFile(tinyGraph(), { weights: 'int8' }), encodeModelFile(tinyGraph(), { weights: 'f32' })];
  return {
    name: 'loadModel',
    corpus: files,
    format: safetensorsFormat,
    mutators: MODEL_FILE_MUTATORS,
    run: async (input) => {
      const model = await loadModel(input, { variant: 'simd' });
      model.run(new Float32Array(3 * 12 * 12).fill(0.5), [1, 3, 12, 12]);
    },
  };
}

/** Field positions of a protobuf message tree are not known without parsing; huge varints go anywhere. */
const protobufFormat: Format = { lengthFields: () => [] };

/** ONNX: small graphs written by the test builder, and the seed GoogLeNet export (one case in 50) when generated. */
export function onnxTarget(): FuzzTarget {
  const small = [graphToOnnx(tinyGraph(), 13), graphToOnnx(tinyGraph(), 11)];
  const seedPath = `${FIXTURE_DIR}/seed-googlenet.onnx`;
  const seed = existsSync(seedPath) ? new Uint8Array(readFileSync(seedPath)) : undefined;
  return {
    name: 'ONNX (importOnnx)',
    corpus: seed ? [...small, seed] : small,
    base: (rng) => (seed && rng.next() < 0.02 ? seed : rng.pick(small)),
    format: protobufFormat,
    mutators: ALL_MUTATORS.filter((name) => name !== 'hugeNumber' && name !== 'structure'),
    run: (input) => importOnnx(input),
  };
}

/** Every chunk's length field (big-endian, 4 bytes). */
function pngLengthFields(bytes: Uint8Array): LengthField[] {
  const fields: LengthField[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 8 <= bytes.length; at += 12 + view.getUint32(at)) fields.push({ at, bytes: 4, littleEndian: false });
  // The IHDR's width and height are sizes too.
  return [...fields, { at: 16, bytes: 4, littleEndian: false }, { at: 20, bytes: 4, littleEndian: false }];
}

/** Every marker segment's length (big-endian, 2 bytes) up to the scan, and the frame's height and width. */
function jpegLengthFields(bytes: Uint8Array): LengthField[] {
  const fields: LengthField[] = [];
  for (let at = 2; at + 4 <= bytes.length && bytes[at] === 0xff && bytes[at + 1] !== 0xda;) {
    fields.push({ at: at + 2, bytes: 2, littleEndian: false });
    if (bytes[at + 1] === 0xc0 || bytes[at + 1] === 0xc2) {
      fields.push({ at: at + 5, bytes: 2, littleEndian: false }, { at: at + 7, bytes: 2, littleEndian: false });
    }
    at += 2 + ((bytes[at + 2] << 8) | bytes[at + 3]);
  }
  return fields;
}

export const SAMPLE_PNGS = SAMPLES.map(({ bytes }) => bytes);

/** The sample images as JPEGs (gray ones as RGB, as jpeg-js writes them), at two qualities. */
export function sampleJpegs(): Uint8Array[] {
  return SAMPLES.slice(0, 5).flatMap(({ bytes }) => {
    const image = decodeImage(bytes);
    const rgba = new Uint8Array(image.width * image.height * 4);
    for (let i = 0; i < image.width * image.height; i++) {
      for (let c = 0; c < 3; c++) rgba[i * 4 + c] = image.data[i * image.channels + (image.channels === 1 ? 0 : c)];
      rgba[i * 4 + 3] = 255;
    }
    return [50, 90].map((quality) => new Uint8Array(jpeg.encode({ data: rgba, width: image.width, height: image.height }, quality).data));
  });
}

/** Recomputes the CRC of every whole chunk, so that most mutations get past the CRC check into the decoder. */
function withChunkCrcs(png: Uint8Array): Uint8Array {
  const fixed = png.slice();
  const view = new DataView(fixed.buffer);
  for (let at = 8; at + 12 <= fixed.length;) {
    const end = at + 12 + view.getUint32(at);
    if (end > fixed.length) break;
    view.setUint32(end - 4, crc32(fixed.subarray(at + 4, end - 4)));
    at = end;
  }
  return fixed;
}

export function pngTarget(): FuzzTarget {
  return {
    name: 'PNG (decodeImage)', corpus: SAMPLE_PNGS, format: { lengthFields: pngLengthFields }, mutators: ALL_MUTATORS,
    repair: (input, rng) => (rng.next() < 0.8 ? withChunkCrcs(input) : input),
    run: (input) => decodeImage(input),
  };
}

export function jpegTarget(): FuzzTarget {
  return {
    name: 'JPEG (decodeImage)', corpus: sampleJpegs(), format: { lengthFields: jpegLengthFields }, mutators: ALL_MUTATORS,
    run: (input) => decodeImage(input),
  };
}

const CONTENT_TYPES = ['image/png', 'image/jpeg', 'multipart/form-data; boundary=FUZZ', 'text/plain', '', 'image/png; charset=x', 'multipart/form-data'];
const TOPS = [null, '1', '3', '0', '-1', '10000000000000000000000', 'x', ''];

/** A multipart body with the image in its "image" field. */
function multipart(image: Uint8Array): Uint8Array {
  const encoder = new TextEncoder();
  const head = encoder.encode('--FUZZ\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n');
  const tail = encoder.encode('\r\n--FUZZ--\r\n');
  const body = new Uint8Array(head.length + image.length + tail.length);
  body.set(head);
  body.set(image, head.length);
  body.set(tail, head.length + image.length);
  return body;
}

/**
 * Requests to the HTTP handler: mutated PNG, JPEG and multipart bodies under assorted Content-Types, methods,
 * paths and ?top values. Every answer must be JSON with a status below 500; errors must carry a message.
 */
export function handlerTarget(model: Model, maxBodyBytes = 256 * 1024): FuzzTarget {
  const handler: Handler = createHandler(model, { maxBodyBytes, onError: () => {} });
  const images = [...SAMPLE_PNGS.slice(0, 4), ...sampleJpegs().slice(0, 4)];
  const corpus = [...images, ...images.slice(0, 4).map(multipart)];
  return {
    name: 'HTTP handler (createHandler)',
    corpus,
    format: { lengthFields: (bytes) => (bytes[0] === 0x89 ? pngLengthFields(bytes) : bytes[0] === 0xff ? jpegLengthFields(bytes) : []) },
    mutators: ALL_MUTATORS.filter((name) => name !== 'hugeNumber' && name !== 'structure'),
    run: async (body, rng) => {
      const top = rng.pick(TOPS);
      const path = rng.next() < 0.9 ? '/classify' : rng.pick(['/', '/healthz', '/nope', '/classify/']);
      const method = rng.next() < 0.9 ? 'POST' : rng.pick(['GET', 'PUT', 'HEAD', 'OPTIONS']);
      const contentType = rng.pick(CONTENT_TYPES);
      const url = `http://127.0.0.1/${path.slice(1)}${top === null ? '' : `?top=${encodeURIComponent(top)}`}`;
      const hasBody = method === 'POST' || method === 'PUT';
      const response = await handler(new Request(url, {
        method, body: hasBody ? (body as BodyInit) : null, headers: contentType ? { 'content-type': contentType } : {},
      }));
      if (response.status >= 500) throw new FuzzFailure(`HTTP ${response.status}: ${await response.text()}`);
      if (response.status === 204 || method === 'HEAD') return response.status >= 400 ? REJECTED : response.status;
      const text = await response.text();
      let json: { error?: unknown; predictions?: unknown };
      try {
        json = JSON.parse(text);
      } catch {
        throw new FuzzFailure(`HTTP ${response.status} answered with a body that is not JSON: ${text.slice(0, 200)}`);
      }
      if (response.status >= 400 && !(typeof json.error === 'string' && json.error.length >= 10)) {
        throw new FuzzFailure(`HTTP ${response.status} without a useful error message: ${text.slice(0, 200)}`);
      }
      if (response.status === 200 && path === '/classify' && !Array.isArray(json.predictions)) {
        throw new FuzzFailure(`HTTP 200 from /classify without predictions: ${text.slice(0, 200)}`);
      }
      return response.status >= 400 ? REJECTED : response.status;
    },
  };
}
