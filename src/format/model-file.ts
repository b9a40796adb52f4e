/**
 * The compact model file: one safetensors file (src/format/safetensors.ts) that standard tools can read, holding
 * the graph, its weights and what a caller needs around it.
 *
 * Tensors, named as the graph's weights:
 *   <weight>         Conv and Dense weights in the file's precision: I8 (see quantize.ts), F16 or F32;
 *                    every other weight (biases, normalisation vectors) F32
 *   <weight>.scale   int8 files only: F32 [outChannels], the per-channel scales (w ≈ q · scale[m])
 *
 * `__metadata__` (safetensors allows only string values, so structured ones are JSON text):
 *   format             "googlenet-wasm"
 *   format_version     "1"
 *   weights            "int8" | "f16" | "f32"
 *   graph              the graph without weights, see graph-json.ts
 *   preprocess         the model input's Preprocess, see preprocess.ts
 *   labels             optional: one class name per output class, e.g. ["tench", "goldfish", …]
 *   activation_ranges  optional: { "<tensor>": [min, max], … } observed over calibration inputs
 *
 * Decoding checks every part against the others before anything reaches wasm memory and gives the graph with
 * float32 weights (f16 widened; int8 ones keep their int8 values and scales, and are dequantized only if read
 * as float32); the runtime picks its own precision from there.
 */
import { InputError, ModelFormatError } from '../errors.js';
import type { Graph, Node, QuantizedWeight } from '../graph/ir.js';
import { elementCount, formatDims, inferShapes } from '../graph/shapes.js';
import { f16ToF32Array, f32ToF16Array } from './f16.js';
import { graphToJson, readGraphJson, weightReferences } from './graph-json.js';
import { JsonField, plural, type Raise } from './json-field.js';
import { defaultPreprocess, readPreprocess, type Preprocess } from './preprocess.js';
import { int8Weight, quantizePerChannel } from './quantize.js';
import { parseSafetensors, raiseModelFileError, writeSafetensors, type Dtype, type StoredTensor } from './safetensors.js';

export type { Preprocess } from './preprocess.js';

const FORMAT_NAME = 'googlenet-wasm';
const FORMAT_VERSION = 1;
export const WEIGHT_PRECISIONS = ['int8', 'f16', 'f32'] as const;
export type WeightPrecision = (typeof WEIGHT_PRECISIONS)[number];
/** Observed [min, max] of activation tensors, by tensor name. */
export type ActivationRanges = Record<string, [number, number]>;

/** What a model file carries besides the graph. */
export interface ModelFileMetadata {
  formatVersion: number;
  /** How the file stores Conv and Dense weights. */
  weights: WeightPrecision;
  preprocess: Preprocess;
  labels?: string[];
  activationRanges?: ActivationRanges;
}

export interface ModelFile extends ModelFileMetadata {
  /** Weights in float32. */
  graph: Graph;
}

export interface EncodeOptions {
  weights: WeightPrecision;
  labels?: string[];
  /** Defaults to defaultPreprocess() of the graph's first input. */
  preprocess?: Preprocess;
  activationRanges?: ActivationRanges;
  /** Called after each weight is stored. */
  onProgress?: (done: number, total: number) => void;
}

const METADATA_FIELDS = [
  'format', 'format_version', 'weights', 'graph', 'preprocess', 'labels', 'activation_ranges',
] as const;
const LAYER_DTYPES: Record<WeightPrecision, Dtype> = { int8: 'I8', f16: 'F16', f32: 'F32' };
const SCALE_SUFFIX = '.scale';
const F16_MAX = 65504;
const MAX_TENSOR_BYTES = 2 ** 32;

/** Sniffs the safetensors header (its JSON starts right after the 8-byte length) apart from ONNX protobuf. */
export function isModelFile(bytes: Uint8Array): boolean {
  return bytes.length > 8 && bytes[8] === 0x7b; // '{'
}

/** The model file for `graph`. Throws ModelFormatError for an inconsistent graph, InputError for bad options. */
export function encodeModelFile(graph: Graph, options: EncodeOptions): Uint8Array {
  const raise: Raise = (message) => {
    throw new InputError(message);
  };
  const shapes = inferShapes(graph);
  const weights = new JsonField(options.weights, 'weights', raise).oneOf(WEIGHT_PRECISIONS);
  const input = graph.inputs[0] ?? raise('the graph has no inputs');
  const preprocess = readPreprocess(new JsonField(options.preprocess ?? defaultPreprocess(input), 'preprocess', raise), input);
  const metadata: Record<string, string> = {
    format: FORMAT_NAME,
    format_version: String(FORMAT_VERSION),
    weights,
    graph: JSON.stringify(graphToJson(graph)),
    preprocess: JSON.stringify(preprocess),
  };
  if (options.labels) {
    metadata.labels = JSON.stringify(readLabels(new JsonField(options.labels, 'labels', raise), graph, shapes));
  }
  if (options.activationRanges) {
    const ranges = readActivationRanges(new JsonField(options.activationRanges, 'activationRanges', raise), shapes);
    metadata.activation_ranges = JSON.stringify(ranges);
  }
  return writeSafetensors(storeWeights(graph, weights, options.onProgress), metadata);
}

export interface DecodeOptions {
  /**
   * Weights as views into `bytes` where they can be, instead of copies (int8 values, and float32 tensors aligned in
   * memory): for a caller that copies them elsewhere before `bytes` can change, as loadModel() does.
   */
  viewWeights?: boolean;
}

export function decodeModelFile(bytes: Uint8Array, options: DecodeOptions = {}): ModelFile {
  const { metadata, tensors } = parseSafetensors(bytes);
  if (!metadata) raiseModelFileError(`__metadata__ is missing: this safetensors file is not a ${FORMAT_NAME} model`);
  const fields = new JsonField(metadata, '__metadata__', raiseModelFileError);
  const format = fields.get('format');
  if (format.string() !== FORMAT_NAME) format.fail(`"${format.value}" is not "${FORMAT_NAME}"`);
  // Checked before the other fields: another version may have other fields.
  const version = fields.get('format_version');
  if (version.string() !== String(FORMAT_VERSION)) {
    version.fail(`"${version.value}" is not supported (expected ${FORMAT_VERSION})`);
  }
  fields.object(METADATA_FIELDS);
  const weights = fields.get('weights').oneOf(WEIGHT_PRECISIONS);
  const graph = readGraphJson(fields.get('graph').parsed());
  loadWeights(graph, tensors, weights, options.viewWeights ?? false);
  const shapes = checkedShapes(graph);
  const labels = fields.optional('labels');
  const ranges = fields.optional('activation_ranges');
  return {
    graph,
    formatVersion: FORMAT_VERSION,
    weights,
    preprocess: readPreprocess(fields.get('preprocess').parsed(), graph.inputs[0]),
    labels: labels && readLabels(labels.parsed(), graph, shapes),
    activationRanges: ranges && readActivationRanges(ranges.parsed(), shapes),
  };
}

/** Every weight the nodes read, once each, in the order they are first read. */
function referencedWeights(graph: Graph): Map<string, Node> {
  const readers = new Map<string, Node>();
  for (const node of graph.nodes) {
    for (const { weight } of weightReferences(node)) if (!readers.has(weight)) readers.set(weight, node);
  }
  return readers;
}

/** Conv and Dense weights: the tensors stored in the file's precision. */
function layerWeights(graph: Graph): Set<string> {
  return new Set(graph.nodes.flatMap((node) => (node.op === 'Conv' || node.op === 'Dense' ? [node.weight] : [])));
}

function storeWeights(
  graph: Graph, precision: WeightPrecision, onProgress: EncodeOptions['onProgress'],
): Map<string, StoredTensor> {
  const names = [...referencedWeights(graph).keys()];
  const layers = layerWeights(graph);
  const tensors = new Map<string, StoredTensor>();
  names.forEach((name, index) => {
    const weight = graph.weights.get(name)!; // inferShapes checked that every referenced weight is there
    const bad = weight.data.findIndex((value) => !Number.isFinite(value));
    if (bad >= 0) throw new ModelFormatError(`weight "${name}" holds ${weight.data[bad]} at index ${bad}`);
    const dtype = layers.has(name) ? LAYER_DTYPES[precision] : 'F32';
    if (dtype === 'I8') {
      const scaleName = name + SCALE_SUFFIX;
      if (names.includes(scaleName)) {
        throw new ModelFormatError(`weight "${scaleName}" has the name the scales of weight "${name}" need`);
      }
      const { values, scales } = quantizePerChannel(weight);
      tensors.set(name, { dtype, shape: weight.dims, bytes: bytesOf(values) });
      tensors.set(scaleName, { dtype: 'F32', shape: [weight.dims[0]], bytes: bytesOf(scales) });
    } else if (dtype === 'F16') {
      const large = weight.data.findIndex((value) => Math.abs(value) > F16_MAX);
      if (large >= 0) throw new InputError(`weight "${name}" holds ${weight.data[large]}, too large for f16`);
      tensors.set(name, { dtype, shape: weight.dims, bytes: bytesOf(f32ToF16Array(weight.data)) });
    } else {
      tensors.set(name, { dtype, shape: weight.dims, bytes: bytesOf(weight.data) });
    }
    onProgress?.(index + 1, names.length);
  });
  return tensors;
}

/** Decodes the tensor of every weight the graph reads into graph.weights; a tensor nothing reads is an error. */
function loadWeights(graph: Graph, tensors: Map<string, StoredTensor>, precision: WeightPrecision, views: boolean): void {
  const elements = <T>(tensor: StoredTensor, Type: TypedArrayType<T>) => (views ? typedView(tensor, Type) : typedCopy(tensor, Type));
  const layers = layerWeights(graph);
  const scaleTensors = new Map<string, string>(); // scale tensor → its weight
  for (const [name, reader] of referencedWeights(graph)) {
    const tensor = tensors.get(name);
    if (!tensor) {
      raiseModelFileError(`__metadata__.graph: node "${reader.name}" (${reader.op}) reads weight "${name}", which is no tensor of the file`);
    }
    const expected = layers.has(name) ? LAYER_DTYPES[precision] : 'F32';
    if (tensor.dtype !== expected) {
      const role = layers.has(name) ? `a ${reader.op} weight of a "${precision}" file` : `not a Conv or Dense weight`;
      raiseModelFileError(`tensor "${name}": dtype ${tensor.dtype} should be ${expected}: it is ${role}`);
    }
    if (expected === 'I8') {
      const scaleName = name + SCALE_SUFFIX;
      graph.weights.set(name, int8Weight(tensor.shape, quantizedValues(name, tensor, scaleName, tensors.get(scaleName), elements)));
      scaleTensors.set(scaleName, name);
    } else {
      const data = expected === 'F16' ? f16ToF32Array(elements(tensor, Uint16Array)) : elements(tensor, Float32Array);
      checkFinite(name, data);
      graph.weights.set(name, { dims: tensor.shape, data });
    }
  }
  for (const name of tensors.keys()) {
    const owner = scaleTensors.get(name);
    if (owner !== undefined && graph.weights.has(name)) {
      raiseModelFileError(`tensor "${name}" is both a weight of the graph and the scales of weight "${owner}"`);
    }
    if (owner === undefined && !graph.weights.has(name)) {
      raiseModelFileError(`tensor "${name}" is not read by any node of __metadata__.graph`);
    }
  }
}

function quantizedValues(
  name: string, tensor: StoredTensor, scaleName: string, scaleTensor: StoredTensor | undefined,
  elements: <T>(tensor: StoredTensor, Type: TypedArrayType<T>) => T,
): QuantizedWeight {
  const fail = (message: string) => raiseModelFileError(`tensor "${name}": ${message}`);
  if (tensor.shape.length === 0) fail('an int8 weight needs an output-channel axis, its shape is []');
  if (!scaleTensor) return fail(`its scales, tensor "${scaleName}", are missing`);
  const channels = tensor.shape[0];
  if (scaleTensor.dtype !== 'F32' || formatDims(scaleTensor.shape) !== formatDims([channels])) {
    raiseModelFileError(
      `tensor "${scaleName}": the scales of "${name}" must be F32 [${channels}], got ${scaleTensor.dtype} ${formatDims(scaleTensor.shape)}`,
    );
  }
  const scales = elements(scaleTensor, Float32Array);
  for (let i = 0; i < scales.length; i++) {
    if (!(scales[i] > 0 && scales[i] < Infinity)) {
      raiseModelFileError(`tensor "${scaleName}": scale ${i} is ${scales[i]}; scales must be finite and positive`);
    }
  }
  // Any int8 value goes, -128 included (this package writes ±127; the kernels are exact for all of them).
  return { values: elements(tensor, Int8Array), scales };
}

// Plain loops rather than findIndex(callback): every load checks every bias and scale (and an f32 or f16 file every
// weight) while the engine still interprets this code, and a call per value costs there.
function checkFinite(name: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) raiseModelFileError(`tensor "${name}": value ${i} is ${data[i]}`);
}

/**
 * inferShapes() checks the graph against its weights; its errors (naming node and weight) gain the file's prefix.
 * A tensor too large for a 32-bit wasm memory is refused here, before the runtime would try to plan for it.
 */
function checkedShapes(graph: Graph): Map<string, number[]> {
  let shapes: Map<string, number[]>;
  try {
    shapes = inferShapes(graph);
  } catch (error) {
    if (error instanceof ModelFormatError) raiseModelFileError(`__metadata__.graph: ${error.message}`);
    throw error;
  }
  for (const [name, dims] of shapes) {
    if (elementCount(dims) * 4 > MAX_TENSOR_BYTES) {
      raiseModelFileError(`__metadata__.graph: tensor "${name}" ${formatDims(dims)} is too large for a wasm memory`);
    }
  }
  return shapes;
}

/** One label per class of the first output. */
function readLabels(field: JsonField, graph: Graph, shapes: Map<string, number[]>): string[] {
  const labels = field.strings();
  const output = graph.outputs[0];
  if (output === undefined) field.fail('needs a graph output to label, the graph has none');
  const dims = shapes.get(output)!;
  const classes = elementCount(dims.slice(1));
  if (labels.length !== classes) {
    field.fail(`has ${plural(labels.length, 'label')}, output "${output}" ${formatDims(dims)} has ${plural(classes, 'class', 'classes')}`);
  }
  return labels;
}

function readActivationRanges(field: JsonField, shapes: Map<string, number[]>): ActivationRanges {
  const names = field.keys();
  return Object.fromEntries(names.map((name) => {
    if (!shapes.has(name)) field.fail(`names tensor "${name}", which the graph does not have`);
    const range = field.get(name);
    const [min, max] = range.numbers(2);
    if (min > max) range.fail(`[${min}, ${max}] is not a range (min > max)`);
    return [name, [min, max]];
  }));
}

interface TypedArrayType<T> {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** A fresh, aligned copy of the tensor's little-endian bytes (hosts that run wasm are little-endian too). */
function typedCopy<T>(tensor: StoredTensor, Type: TypedArrayType<T>): T {
  return new Type(new Uint8Array(tensor.bytes).buffer); // not bytes.slice(): a Node Buffer's slice() is a view
}

/** The tensor's elements in place where they are aligned for `Type`, else a copy. */
function typedView<T>(tensor: StoredTensor, Type: TypedArrayType<T>): T {
  const { buffer, byteOffset, byteLength } = tensor.bytes;
  if (byteOffset % Type.BYTES_PER_ELEMENT !== 0 || !(buffer instanceof ArrayBuffer)) return typedCopy(tensor, Type);
  return new Type(buffer, byteOffset, byteLength / Type.BYTES_PER_ELEMENT);
}

function bytesOf(values: Float32Array | Uint16Array | Int8Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
