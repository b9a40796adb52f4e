/**
 * The safetensors container (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
 * N, N bytes of JSON header, then the data buffer.
 *
 *   { "<tensor>": { "dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [begin, end] }, …,
 *     "__metadata__": { "<key>": "<string value>", … } }
 *
 * Offsets are relative to the start of the data buffer; the tensors cover it exactly, without gaps or overlaps.
 * The parser checks all of that, against the real byte length, before it decodes or allocates anything sized by
 * the file: every failure is a ModelFormatError that names the tensor or field.
 */
import { ModelFormatError } from '../errors.js';
import { JsonField, describe, parseJson } from './json-field.js';

/** Bytes per element of the safetensors dtypes this reader knows (the sub-byte float formats are left out). */
const DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

export interface StoredTensor {
  dtype: Dtype;
  shape: number[];
  /** Raw little-endian elements; from the parser, a view into the file's bytes. */
  bytes: Uint8Array;
}

export interface Safetensors {
  /** The `__metadata__` string map; undefined when the header has none. */
  metadata?: Record<string, string>;
  /** In header order. */
  tensors: Map<string, StoredTensor>;
}

const METADATA_KEY = '__metadata__';

/** Refuses larger headers before decoding them: real ones are kilobytes, and a corrupt length could be 2^64. */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

const HEADER_LENGTH_BYTES = 8;
const TENSOR_FIELDS = ['dtype', 'shape', 'data_offsets'] as const;

/** Every complaint about a model file starts alike, so that it reads apart from ONNX import errors. */
export function raiseModelFileError(message: string): never {
  throw new ModelFormatError(`model file: ${message}`);
}

export function parseSafetensors(bytes: Uint8Array): Safetensors {
  const { header, data } = splitFile(bytes);
  let metadata: Record<string, string> | undefined;
  const tensors = new Map<string, StoredTensor>();
  for (const name of header.keys()) {
    const entry = (header.value as Record<string, unknown>)[name];
    if (name === METADATA_KEY) metadata = readMetadata(new JsonField(entry, METADATA_KEY, raiseModelFileError));
    else tensors.set(name, readTensor(name, entry, data));
  }
  checkCoverage(tensors, data);
  return { metadata, tensors };
}

/**
 * The file for `tensors` and `metadata`. Tensors are laid out largest element size first, so with the header
 * padded (with spaces) to 8 bytes every tensor starts aligned to its element size.
 */
export function writeSafetensors(tensors: Map<string, StoredTensor>, metadata?: Record<string, string>): Uint8Array {
  const ordered = [...tensors].sort(([, a], [, b]) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype]);
  const header: Record<string, unknown> = metadata ? { [METADATA_KEY]: metadata } : {};
  let offset = 0;
  for (const [name, { dtype, shape, bytes }] of ordered) {
    if (name === METADATA_KEY) throw new RangeError(`a tensor cannot be named ${METADATA_KEY}`);
    if (byteSize(shape, DTYPE_BYTES[dtype]) !== bytes.length) {
      throw new RangeError(`tensor "${name}" has ${bytes.length} bytes, not what shape [${shape}] of ${dtype} needs`);
    }
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / HEADER_LENGTH_BYTES) * HEADER_LENGTH_BYTES;
  const dataStart = HEADER_LENGTH_BYTES + headerLength;

  const file = new Uint8Array(dataStart + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerLength), true);
  file.set(json, HEADER_LENGTH_BYTES);
  file.fill(0x20, HEADER_LENGTH_BYTES + json.length, dataStart); // spaces: still valid JSON
  let at = dataStart;
  for (const [, { bytes }] of ordered) {
    file.set(bytes, at);
    at += bytes.length;
  }
  return file;
}

/** The header as parsed JSON, and the data buffer after it; the length is checked before anything is decoded. */
function splitFile(bytes: Uint8Array): { header: JsonField; data: Uint8Array } {
  const fail = raiseModelFileError;
  if (bytes.length < HEADER_LENGTH_BYTES) {
    fail(`the file has ${bytes.length} bytes, fewer than the 8-byte header length that starts it`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const dataStart = HEADER_LENGTH_BYTES + Number(headerLength);
  if (dataStart > bytes.length) fail(`header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`);
  const text = decodeUtf8(bytes.subarray(HEADER_LENGTH_BYTES, dataStart));
  const header = new JsonField(parseJson(text, (message) => fail(`the header ${message}`)), 'the header', fail);
  return { header: header.object(), data: bytes.subarray(dataStart) };
}

/** One tensor entry, checked against the data buffer; its bytes are a view into that buffer. */
function readTensor(name: string, value: unknown, data: Uint8Array): StoredTensor {
  // Hundreds of entries are read on every load, while the engine still interprets this code: a well-formed one
  // passes plain checks; anything else takes the path below, which names what is wrong.
  if (isWellFormed(value, data.length)) return { dtype: value.dtype, shape: value.shape, bytes: data.subarray(...value.data_offsets) };
  const entry = new JsonField(value, `tensor "${name}"`, raiseModelFileError).object(TENSOR_FIELDS);
  const field = (key: string) => entry.get(key).renamed(`tensor "${name}": ${key}`);
  const dtype = field('dtype').oneOf(Object.keys(DTYPE_BYTES) as Dtype[]);
  const shape = field('shape').integers(0);
  const offsets = field('data_offsets');
  const [begin, end] = offsets.integers(0, 2);
  if (end < begin) offsets.fail(`[${begin}, ${end}] end before they begin`);
  if (end > data.length) offsets.fail(`[${begin}, ${end}] run past the end of the data (${data.length} bytes)`);
  const needed = byteSize(shape, DTYPE_BYTES[dtype]);
  if (needed !== end - begin) {
    offsets.fail(`[${begin}, ${end}] hold ${end - begin} bytes; shape [${shape.join(', ')}] of ${dtype} needs ${needed}`);
  }
  return { dtype, shape, bytes: data.subarray(begin, end) };
}

interface TensorEntry {
  dtype: Dtype;
  shape: number[];
  data_offsets: [number, number];
}

/** Whether readTensor() would accept the entry: every check it makes, none of its messages. */
function isWellFormed(value: unknown, dataBytes: number): value is TensorEntry {
  if (typeof value !== 'object' || value === null || Object.keys(value).length !== TENSOR_FIELDS.length) return false;
  if (!TENSOR_FIELDS.every((field) => Object.hasOwn(value, field))) return false;
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype) || !isCounts(shape) || !isCounts(offsets) || offsets.length !== 2) return false;
  const [begin, end] = offsets;
  return begin <= end && end <= dataBytes && byteSize(shape, DTYPE_BYTES[dtype as Dtype]) === end - begin;
}

/** An array of safe integers ≥ 0. */
function isCounts(value: unknown): value is number[] {
  if (!Array.isArray(value)) return false;
  for (const item of value) if (!Number.isSafeInteger(item) || item < 0) return false;
  return true;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    // A copy: browsers' TextDecoder refuses a view of a resizable ArrayBuffer, which model bytes may be.
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return raiseModelFileError('the header is not valid UTF-8');
  }
}

function readMetadata(field: JsonField): Record<string, string> {
  return Object.fromEntries(Object.entries(field.object().value as Record<string, unknown>).map(([key, value]) => {
    if (typeof value !== 'string') field.fail(`value "${key}" must be a string, got ${describe(value)}`);
    return [key, value];
  }));
}

/** Elements × element size; a product past 2^53 only grows, so it can never equal a real span by accident. */
function byteSize(shape: number[], elementBytes: number): number {
  return shape.includes(0) ? 0 : shape.reduce((product, dim) => product * dim, elementBytes);
}

/** The tensors must tile the data buffer: sorted by start, each begins where the previous one ends. */
function checkCoverage(tensors: Map<string, StoredTensor>, data: Uint8Array): void {
  const spans = [...tensors].map(([name, { bytes }]) => {
    const begin = bytes.byteOffset - data.byteOffset;
    return { name, begin, end: begin + bytes.length };
  });
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let previous: (typeof spans)[number] | undefined;
  for (const span of spans) {
    const reached = previous?.end ?? 0;
    if (span.begin !== reached) {
      const after = previous ? `tensor "${previous.name}" [${previous.begin}, ${previous.end}]` : 'the start of the data';
      const offsets = `tensor "${span.name}": data_offsets [${span.begin}, ${span.end}]`;
      raiseModelFileError(span.begin < reached ? `${offsets} overlap ${after}` : `${offsets} leave a gap after ${after}`);
    }
    previous = span;
  }
  const covered = previous?.end ?? 0;
  if (covered !== data.length) {
    raiseModelFileError(`the data buffer has ${data.length - covered} bytes after the last tensor, which no tensor covers`);
  }
}
