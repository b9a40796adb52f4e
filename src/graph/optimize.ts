/**
 * Graph rewrites between import and planning: BatchNormalization and BiasAdd are folded into the Conv or Dense
 * node before them, Relu is fused into it, and nodes and weights that no graph output needs are dropped.
 * The input graph and its weight arrays are left untouched (weights may be shared), so folding writes new arrays.
 */
import { ModelFormatError } from '../errors.js';
import type { BatchNormNode, BiasAddNode, ConvNode, DenseNode, Graph, Node, ReluNode, Weight } from './ir.js';

type Layer = ConvNode | DenseNode;
type Foldable = BatchNormNode | BiasAddNode | ReluNode;

export function optimize(graph: Graph): Graph {
  return dropUnused(foldIntoLayers(graph));
}

function fail(node: Node, message: string): never {
  throw new ModelFormatError(`node "${node.name}" (${node.op}): ${message}`);
}

/** One pass in topological order; a folded node's output name moves to the layer, so consumers need no rewiring. */
function foldIntoLayers(graph: Graph): Graph {
  const weights = new Map(graph.weights);
  const uses = countUses(graph);
  const nodes: Node[] = [];
  const producerIndex = new Map<string, number>();
  for (const node of graph.nodes) {
    if (isFoldable(node)) {
      const target = foldTarget(node, nodes, producerIndex, uses);
      if (typeof target !== 'string') {
        nodes[target.index] = fold(node, target.layer, weights);
        producerIndex.set(node.output, target.index);
        continue;
      }
      // A Relu that cannot be fused simply runs on its own; the other two have no kernel of their own.
      if (node.op !== 'Relu') fail(node, `cannot be folded into a preceding Conv or Dense node: ${target}`);
    }
    producerIndex.set(node.output, nodes.length);
    nodes.push(node);
  }
  return { ...graph, nodes, weights };
}

function isFoldable(node: Node): node is Foldable {
  return node.op === 'BatchNormalization' || node.op === 'BiasAdd' || node.op === 'Relu';
}

/** How many times each tensor is read, a graph output counting as one read. */
function countUses(graph: Graph): Map<string, number> {
  const uses = new Map<string, number>();
  const use = (name: string) => uses.set(name, (uses.get(name) ?? 0) + 1);
  for (const node of graph.nodes) node.inputs.forEach(use);
  graph.outputs.forEach(use);
  return uses;
}

/** The layer `node` can be merged into (with its index in `nodes`), or why there is none. */
function foldTarget(
  node: Foldable, nodes: Node[], producerIndex: Map<string, number>, uses: Map<string, number>,
): { index: number; layer: Layer } | string {
  const input = node.inputs[0];
  const index = producerIndex.get(input);
  const producer = index === undefined ? undefined : nodes[index];
  if (index === undefined || (producer?.op !== 'Conv' && producer?.op !== 'Dense')) {
    return `input "${input}" is not produced by a Conv or Dense node`;
  }
  if (uses.get(input) !== 1) return `"${producer.name}" output "${input}" is also used elsewhere`;
  // relu(relu(x)) = relu(x), but a bias or normalisation cannot move before an activation.
  if (producer.relu && node.op !== 'Relu') return `a Relu already follows "${producer.name}"`;
  return { index, layer: producer };
}

function fold(node: Foldable, layer: Layer, weights: Map<string, Weight>): Layer {
  const moved = { ...layer, output: node.output };
  switch (node.op) {
    case 'Relu':
      return { ...moved, relu: true };
    case 'BiasAdd': {
      const outputs = layerWeight(node, layer, weights).dims[0];
      const added = vectorOf(node, weights, node.bias, outputs);
      const bias = currentBias(node, layer, weights, outputs).map((value, i) => value + added[i]);
      return { ...moved, bias: addWeight(weights, `${layer.name}/bias`, bias) };
    }
    case 'BatchNormalization':
      return foldBatchNorm(node, moved, weights);
  }
}

/**
 * (x − mean) · scale / √(variance + ε) + shift of x = W·in + b is W'·in + b', where W' scales each output row of W
 * by s = scale / √(variance + ε) and b' = (b − mean) · s + shift.
 */
function foldBatchNorm(node: BatchNormNode, layer: Layer, weights: Map<string, Weight>): Layer {
  const { dims, data } = layerWeight(node, layer, weights);
  const outputs = dims[0];
  const [scale, shift, mean, variance] = [node.scale, node.shift, node.mean, node.variance].map((name) =>
    vectorOf(node, weights, name, outputs),
  );
  const factor = Float64Array.from(scale, (s, i) => s / Math.sqrt(variance[i] + node.epsilon));
  const rowLength = data.length / outputs;
  const weight = data.map((w, i) => w * factor[Math.floor(i / rowLength)]);
  const bias = currentBias(node, layer, weights, outputs).map((b, i) => (b - mean[i]) * factor[i] + shift[i]);
  return {
    ...layer,
    weight: addWeight(weights, `${layer.name}/weight`, weight, dims),
    bias: addWeight(weights, `${layer.name}/bias`, bias),
  };
}

/** The layer's weight, [outChannels, ...] for Conv and [outFeatures, inFeatures] for Dense. */
function layerWeight(node: Foldable, layer: Layer, weights: Map<string, Weight>): Weight {
  const weight = weights.get(layer.weight);
  if (!weight) fail(node, `weight "${layer.weight}" of "${layer.name}" is missing`);
  return weight;
}

function vectorOf(node: Foldable, weights: Map<string, Weight>, name: string, length: number): Float32Array {
  const weight = weights.get(name);
  if (!weight) fail(node, `weight "${name}" is missing`);
  if (weight.data.length !== length) {
    fail(node, `weight "${name}" has ${weight.data.length} values, the layer has ${length} outputs`);
  }
  return weight.data;
}

function currentBias(node: Foldable, layer: Layer, weights: Map<string, Weight>, length: number): Float32Array {
  return layer.bias === undefined ? new Float32Array(length) : vectorOf(node, weights, layer.bias, length);
}

/** Stores a new weight under an unused name derived from `base`; returns that name. */
function addWeight(weights: Map<string, Weight>, base: string, data: Float32Array, dims = [data.length]): string {
  const name = uniqueName(base, (candidate) => weights.has(candidate));
  weights.set(name, { dims, data });
  return name;
}

/** `base`, or `base_1`, `base_2`, … — the first that is not taken. */
export function uniqueName(base: string, taken: (name: string) => boolean): string {
  let name = base;
  for (let suffix = 1; taken(name); suffix++) name = `${base}_${suffix}`;
  return name;
}

/** Keeps the nodes some graph output depends on (in order) and the weights they use; graph inputs all stay. */
function dropUnused(graph: Graph): Graph {
  const needed = new Set(graph.outputs);
  const kept: Node[] = [];
  for (const node of [...graph.nodes].reverse()) {
    if (!needed.has(node.output)) continue;
    kept.push(node);
    node.inputs.forEach((input) => needed.add(input));
  }
  kept.reverse();
  const usedWeights = new Set(kept.flatMap(weightNames));
  const weights = new Map([...graph.weights].filter(([name]) => usedWeights.has(name)));
  return { ...graph, nodes: kept, weights };
}

function weightNames(node: Node): string[] {
  switch (node.op) {
    case 'Conv':
    case 'Dense':
      return node.bias === undefined ? [node.weight] : [node.weight, node.bias];
    case 'BatchNormalization':
      return [node.scale, node.shift, node.mean, node.variance];
    case 'BiasAdd':
      return [node.bias];
    default:
      return [];
  }
}
