/**
 * The memory planner. Runs once per model: every activation tensor gets a byte offset in one arena, so an
 * inference allocates no wasm memory. Two kinds of tensor need no storage of their own:
 * - a Reshape output is a view of its input;
 * - a Concat input is a view of its channel slice of the Concat output, so the producing layer writes straight
 *   into place and the Concat itself moves no data.
 * Tensors that own storage ("roots") live from the first write of any of their views to the last read of any
 * of them; roots whose lifetimes overlap never share bytes.
 */

import type { Graph } from './ir.js';
import { elementCount } from './shapes.js';

/** Arena offsets are multiples of this, so SIMD loads of a tensor start on a cache line. */
const ALIGNMENT = 64;

export interface TensorPlacement {
  /** Byte offset from the start of the arena. */
  offset: number;
  bytes: number;
}

/** A Concat input that could not be placed in its slice, so the Concat copies it there. */
export interface ConcatCopy {
  input: string;
  /** Byte offset of the slice in the Concat output. */
  byteOffset: number;
}

export interface MemoryPlan {
  tensors: Map<string, TensorPlacement>;
  arenaBytes: number;
  /** The copies each Concat (keyed by its output) must make; most Concats make none. */
  concatCopies: Map<string, ConcatCopy[]>;
}

interface View {
  parent: string;
  byteOffset: number;
}

/**
 * `valueBytes`: bytes per value of a tensor (4 for f32, the default; 1 for the int8 path's quantised tensors).
 * A Concat's inputs must have its output's size of value.
 */
export function planMemory(
  graph: Graph, shapes: Map<string, number[]>, valueBytes: (tensor: string) => number = () => 4,
): MemoryPlan {
  const bytesOf = (name: string) => elementCount(shapes.get(name)!) * valueBytes(name);
  const views = findViews(graph, bytesOf);
  const rootOf = (name: string): { root: string; byteOffset: number } => {
    let byteOffset = 0;
    for (let view = views.get(name); view; view = views.get(name)) {
      byteOffset += view.byteOffset;
      name = view.parent;
    }
    return { root: name, byteOffset };
  };

  const lifetimes = rootLifetimes(graph, rootOf);
  const rootOffsets = assignOffsets(lifetimes, bytesOf);

  const tensors = new Map<string, TensorPlacement>();
  for (const name of shapes.keys()) {
    const { root, byteOffset } = rootOf(name);
    tensors.set(name, { offset: rootOffsets.offsets.get(root)! + byteOffset, bytes: bytesOf(name) });
  }
  const concatCopies = new Map<string, ConcatCopy[]>();
  for (const node of graph.nodes) {
    if (node.op !== 'Concat') continue;
    const copies: ConcatCopy[] = [];
    let byteOffset = 0;
    for (const input of node.inputs) {
      if (views.get(input)?.parent !== node.output) copies.push({ input, byteOffset });
      byteOffset += bytesOf(input);
    }
    concatCopies.set(node.output, copies);
  }
  return { tensors, arenaBytes: rootOffsets.totalBytes, concatCopies };
}

/** Reshape outputs view their input; eligible Concat inputs view their slice of the output. */
function findViews(graph: Graph, bytesOf: (tensor: string) => number): Map<string, View> {
  const views = new Map<string, View>();
  const inSlice = concatSlices(graph);
  for (const node of graph.nodes) {
    if (node.op === 'Reshape') views.set(node.output, { parent: node.inputs[0], byteOffset: 0 });
    if (node.op !== 'Concat') continue;
    let byteOffset = 0;
    for (const input of node.inputs) {
      if (inSlice.get(input) === node.output) views.set(input, { parent: node.output, byteOffset });
      byteOffset += bytesOf(input);
    }
  }
  return views;
}

/**
 * The Concat inputs that live in their slice of the Concat output, mapped to that output. A graph input, a
 * Reshape output (a view already), or a tensor concatenated twice cannot.
 */
export function concatSlices(graph: Graph): Map<string, string> {
  const notPlaceable = new Set(graph.inputs.map((input) => input.name));
  const concatUses = new Map<string, number>();
  for (const node of graph.nodes) {
    if (node.op === 'Reshape') notPlaceable.add(node.output);
    if (node.op === 'Concat') for (const input of node.inputs) concatUses.set(input, (concatUses.get(input) ?? 0) + 1);
  }
  const slices = new Map<string, string>();
  for (const node of graph.nodes) {
    if (node.op !== 'Concat') continue;
    for (const input of node.inputs) if (!notPlaceable.has(input) && concatUses.get(input) === 1) slices.set(input, node.output);
  }
  return slices;
}

interface Lifetime {
  root: string;
  /** Index of the first node that writes the root or one of its views (-1: a graph input). */
  first: number;
  /** Index of the last node that reads it (nodes.length: a graph output, read after the run). */
  last: number;
}

function rootLifetimes(graph: Graph, rootOf: (name: string) => { root: string }): Lifetime[] {
  const lifetimes = new Map<string, Lifetime>();
  const touch = (name: string, index: number) => {
    const { root } = rootOf(name);
    const lifetime = lifetimes.get(root);
    if (!lifetime) lifetimes.set(root, { root, first: index, last: index });
    else {
      lifetime.first = Math.min(lifetime.first, index);
      lifetime.last = Math.max(lifetime.last, index);
    }
  };
  for (const input of graph.inputs) touch(input.name, -1);
  graph.nodes.forEach((node, index) => {
    for (const input of node.inputs) touch(input, index);
    touch(node.output, index);
  });
  for (const output of graph.outputs) touch(output, graph.nodes.length);
  return [...lifetimes.values()];
}

/** Greedy placement, largest first, each at the lowest aligned offset that clashes with no overlapping root. */
function assignOffsets(lifetimes: Lifetime[], bytesOf: (root: string) => number) {
  const placed: { lifetime: Lifetime; offset: number; end: number }[] = [];
  const offsets = new Map<string, number>();
  let totalBytes = 0;
  const bySize = [...lifetimes].sort((a, b) => bytesOf(b.root) - bytesOf(a.root) || a.first - b.first);
  for (const lifetime of bySize) {
    const bytes = bytesOf(lifetime.root);
    const clashes = placed
      .filter(({ lifetime: other }) => other.first <= lifetime.last && lifetime.first <= other.last)
      .sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const clash of clashes) {
      if (offset + bytes <= clash.offset) break;
      offset = Math.max(offset, alignUp(clash.end));
    }
    placed.push({ lifetime, offset, end: offset + bytes });
    offsets.set(lifetime.root, offset);
    totalBytes = Math.max(totalBytes, alignUp(offset + bytes));
  }
  return { offsets, totalBytes };
}

export function alignUp(bytes: number, alignment = ALIGNMENT): number {
  return Math.ceil(bytes / alignment) * alignment;
}
