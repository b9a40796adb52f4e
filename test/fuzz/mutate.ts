/**
 * Seeded mutations of valid inputs: truncation, bit and byte flips, splices, and huge values written into the
 * length fields a format has (PNG chunk lengths, JPEG segment lengths, the safetensors header length and its
 * JSON numbers, protobuf varints). Everything follows from (seed, case index), so any case can be replayed.
 */

/** mulberry32: small, fast and good enough to pick mutations. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
}

/** The seed of case `index` of a run seeded with `seed`, so that one case replays without the ones before it. */
export function caseSeed(seed: number, index: number): number {
  return Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
}

/** Where a format keeps a length or size, and how it is written. */
export interface LengthField {
  at: number;
  bytes: 2 | 4 | 8;
  littleEndian: boolean;
}

/** What a target tells the mutators about its format. */
export interface Format {
  /** Length fields of a (valid) input. */
  lengthFields(bytes: Uint8Array): LengthField[];
  /** The region most mutations should land in (e.g. a header), when the rest is bulk data; default: all. */
  focus?(bytes: Uint8Array): [number, number];
  /** A mutation that keeps the syntax valid (e.g. one JSON value changed), to reach the checks behind the parser. */
  mutateStructure?(bytes: Uint8Array, rng: Rng): Uint8Array;
}

const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe];
const HUGE_VALUES = [0xffffffffffffffffn, 0x7fffffffffffffffn, 0xffffffffn, 0x7fffffffn, 0x80000000n, 0x10000n, 0xffffn, 0n];
const HUGE_JSON_NUMBERS = ['99999999999999999999', '4294967296', '-1', '1e308', '0', '2147483647', '1.5', '9007199254740993'];

type Mutator = (input: Uint8Array, rng: Rng, format: Format, corpus: Uint8Array[]) => Uint8Array;

/** A position in the focus region most of the time, anywhere otherwise. */
function position(bytes: Uint8Array, rng: Rng, format: Format): number {
  const [start, end] = format.focus && rng.next() < 0.9 ? format.focus(bytes) : [0, bytes.length];
  return start + rng.below(Math.max(1, end - start));
}

const truncate: Mutator = (input, rng, format) => input.slice(0, rng.next() < 0.5 ? position(input, rng, format) : rng.below(input.length));

const flipBits: Mutator = (input, rng, format) => {
  const output = input.slice();
  for (let n = 1 + rng.below(8); n > 0; n--) output[position(output, rng, format)] ^= 1 << rng.below(8);
  return output;
};

const setBytes: Mutator = (input, rng, format) => {
  const output = input.slice();
  for (let n = 1 + rng.below(8); n > 0; n--) {
    output[position(output, rng, format)] = rng.next() < 0.5 ? rng.pick(INTERESTING_BYTES) : rng.below(256);
  }
  return output;
};

/** A run of bytes from any corpus input, inserted or written over a random place. */
const splice: Mutator = (input, rng, format, corpus) => {
  const donor = rng.pick(corpus);
  const from = rng.below(donor.length);
  const piece = donor.subarray(from, from + 1 + rng.below(Math.min(4096, donor.length - from)));
  const at = position(input, rng, format);
  if (rng.next() < 0.5) {
    const output = input.slice();
    output.set(piece.subarray(0, output.length - at), at);
    return output;
  }
  const output = new Uint8Array(input.length + piece.length);
  output.set(input.subarray(0, at));
  output.set(piece, at);
  output.set(input.subarray(at), at + piece.length);
  return output;
};

/** A huge (or zero) value in one of the format's length fields, or at a random place when it names none. */
const hugeLength: Mutator = (input, rng, format) => {
  const fields = format.lengthFields(input);
  const field: LengthField = fields.length > 0 && rng.next() < 0.8
    ? rng.pick(fields)
    : { at: position(input, rng, format), bytes: rng.pick([2, 4, 8] as const), littleEndian: rng.next() < 0.5 };
  const output = input.slice();
  const view = new DataView(output.buffer);
  if (field.at + field.bytes > output.length) return output;
  const value = rng.pick(HUGE_VALUES);
  if (field.bytes === 2) view.setUint16(field.at, Number(value & 0xffffn), field.littleEndian);
  else if (field.bytes === 4) view.setUint32(field.at, Number(value & 0xffffffffn), field.littleEndian);
  else view.setBigUint64(field.at, value, field.littleEndian);
  return output;
};

/** A number in the focus region (a JSON header) replaced by a huge, negative or fractional one. */
const hugeNumber: Mutator = (input, rng, format) => {
  const [start, end] = format.focus?.(input) ?? [0, Math.min(input.length, 65536)];
  const text = new TextDecoder('latin1').decode(input.subarray(start, end));
  const numbers = [...text.matchAll(/-?\d+(\.\d+)?(e\d+)?/g)];
  if (numbers.length === 0) return setBytes(input, rng, format, []);
  const match = rng.pick(numbers);
  const replacement = new TextEncoder().encode(rng.pick(HUGE_JSON_NUMBERS));
  const at = start + match.index!;
  const output = new Uint8Array(input.length - match[0].length + replacement.length);
  output.set(input.subarray(0, at));
  output.set(replacement, at);
  output.set(input.subarray(at + match[0].length), at + replacement.length);
  return output;
};

const structure: Mutator = (input, rng, format) => format.mutateStructure?.(input, rng) ?? flipBits(input, rng, format, []);

export const MUTATORS = { truncate, flipBits, setBytes, splice, hugeLength, hugeNumber, structure } as const;
export type MutatorName = keyof typeof MUTATORS;

export interface Mutation {
  /** The mutators applied, joined by '+'. */
  mutators: string;
  input: Uint8Array;
}

/** One to three stacked mutations of `base`; splices take their bytes from `corpus`. */
export function mutate(base: Uint8Array, corpus: Uint8Array[], format: Format, rng: Rng, mutators: readonly MutatorName[]): Mutation {
  let input = base;
  const applied: MutatorName[] = [];
  for (let n = 1 + (rng.next() < 0.3 ? rng.below(3) : 0); n > 0 && input.length > 0; n--) {
    const name = rng.pick(mutators);
    input = MUTATORS[name](input, rng, format, corpus);
    applied.push(name);
  }
  return { mutators: applied.join('+'), input };
}
