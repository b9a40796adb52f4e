/**
 * The graph IR as JSON, the `graph` entry of a model file's metadata (format version 1):
 *
 *   {
 *     "inputs":  [{ "name": "input", "dims": [1, 3, 224, 224] }],     batch dimension first, always 1
 *     "outputs": ["logits"],
 *     "nodes":   [                                                   topologically sorted
 *       { "op": "Conv", "name": "conv1", "inputs": ["input"], "output": "conv1_out",
 *         "weight": "conv1.weight", "bias": "conv1.bias",
 *         "kernel": [7, 7], "stride": [2, 2], "pads": [3, 3, 3, 3], "relu": true },
 *       …
 *     ]
 *   }
 *
 * A node is its IR node (src/graph/ir.ts) field for field: `op`, `name`, `inputs`, `output`, then the fields of
 * its op listed in NODE_FIELDS below; optional ones (a layer's `bias`) may be left out. Fields that name a weight
 * name a tensor of the file, whose shape gives the weight's dims. Nothing else is allowed, so a misspelt field is
 * an error instead of a default.
 */
import type { Graph, Node, OpType, TensorSpec } from '../graph/ir.js';
import type { JsonField } from './json-field.js';

type FieldKind = 'weight' | 'optionalWeight' | 'pair' | 'pads' | 'boolean' | 'count' | 'number' | 'nonNegative' | 'dims';
type OpFields<N> = { [K in Exclude<keyof N, 'op' | 'name' | 'inputs' | 'output'>]-?: FieldKind };

/** Per op, how each of its own fields is typed (the compiler checks this lists exactly the IR's fields). */
const NODE_FIELDS: { [N in Node as N['op']]: OpFields<N> } = {
  Conv: { weight: 'weight', bias: 'optionalWeight', kernel: 'pair', stride: 'pair', pads: 'pads', relu: 'boolean' },
  MaxPool: { kernel: 'pair', stride: 'pair', pads: 'pads', ceilMode: 'boolean', countIncludePad: 'boolean' },
  AveragePool: { kernel: 'pair', stride: 'pair', pads: 'pads', ceilMode: 'boolean', countIncludePad: 'boolean' },
  GlobalAveragePool: {},
  Relu: {},
  Concat: {},
  LRN: { size: 'count', alpha: 'number', beta: 'number', bias: 'number' },
  Dense: { weight: 'weight', bias: 'optionalWeight', relu: 'boolean' },
  BatchNormalization: { scale: 'weight', shift: 'weight', mean: 'weight', variance: 'weight', epsilon: 'nonNegative' },
  BiasAdd: { bias: 'weight' },
  Reshape: { dims: 'dims' },
  Softmax: {},
};

const OPS = Object.keys(NODE_FIELDS) as OpType[];
const GRAPH_FIELDS = ['inputs', 'outputs', 'nodes'] as const;
const COMMON_FIELDS = ['op', 'name', 'inputs', 'output'] as const;

/** The JSON form of `graph`, without its weights. */
export function graphToJson(graph: Graph): unknown {
  return {
    inputs: graph.inputs.map(({ name, dims }) => ({ name, dims })),
    outputs: graph.outputs,
    nodes: graph.nodes.map((node) => {
      const json: Record<string, unknown> = { op: node.op, name: node.name, inputs: node.inputs, output: node.output };
      for (const key of Object.keys(NODE_FIELDS[node.op])) json[key] = (node as unknown as Record<string, unknown>)[key];
      return json;
    }),
  };
}

/** Names of the weights `node` reads, with the field that names each. */
export function weightReferences(node: Node): { field: string; weight: string }[] {
  const fields = NODE_FIELDS[node.op] as Record<string, FieldKind>;
  const record = node as unknown as Record<string, unknown>;
  return Object.keys(fields)
    .filter((key) => (fields[key] === 'weight' || fields[key] === 'optionalWeight') && record[key] !== undefined)
    .map((key) => ({ field: key, weight: record[key] as string }));
}

/**
 * The graph described by `field`, with its types and value ranges checked, and an empty weight map for the caller
 * to fill. Consistency between nodes, tensors and weights is inferShapes()'s job once the weights are there.
 */
export function readGraphJson(field: JsonField): Graph {
  field.object(GRAPH_FIELDS);
  const inputs = nonEmpty(field.get('inputs')).map((input): TensorSpec => {
    input.object(['name', 'dims']);
    return { name: input.get('name').string(), dims: input.get('dims').integers(1) };
  });
  const outputs = nonEmpty(field.get('outputs')).map((output) => output.string());
  const names = new Set<string>();
  const nodes = field.get('nodes').array().map((item) => {
    const node = readNode(item);
    if (names.has(node.name)) item.get('name').fail(`"${node.name}" is used by an earlier node too`);
    names.add(node.name);
    return node;
  });
  return { inputs, outputs, nodes, weights: new Map() };
}

function nonEmpty(field: JsonField): JsonField[] {
  const items = field.array();
  if (items.length === 0) field.fail('must not be empty');
  return items;
}

function readNode(item: JsonField): Node {
  const op = item.object().get('op').oneOf(OPS);
  const name = item.get('name').string();
  const field = item.renamed(`${item.path} "${name}" (${op})`);
  const fields = NODE_FIELDS[op] as Record<string, FieldKind>;
  field.object([...COMMON_FIELDS, ...Object.keys(fields)]);
  const node: Record<string, unknown> = {
    op,
    name,
    inputs: field.get('inputs').strings(),
    output: field.get('output').string(),
  };
  for (const [key, kind] of Object.entries(fields)) {
    if (kind === 'optionalWeight' && !field.has(key)) continue;
    node[key] = readField(field.get(key), kind);
  }
  return node as unknown as Node;
}

function readField(field: JsonField, kind: FieldKind): unknown {
  switch (kind) {
    case 'weight':
    case 'optionalWeight':
      return field.string();
    case 'pair':
      return field.integers(1, 2);
    case 'pads':
      return field.integers(0, 4);
    case 'boolean':
      return field.boolean();
    case 'count':
      return field.integer(1);
    case 'number':
      return field.number();
    case 'nonNegative': {
      const value = field.number();
      if (value < 0) field.fail(`must not be negative, got ${value}`);
      return value;
    }
    case 'dims':
      return field.integers(1);
  }
}
