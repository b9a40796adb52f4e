/**
 * ONNX model bytes → graph IR.
 *
 * Each computing ONNX node becomes one IR node: Gemm and MatMul become Dense, Add of a constant becomes BiasAdd,
 * Flatten becomes Reshape. Identity, Dropout and all-zero Pads disappear (their consumers read the source), a
 * Pad that does pad (with zeros) moves into the Conv or AveragePool it feeds, and Constant nodes become weights.
 * Shapes are inferred node by node, so every node is checked against its inputs as soon as it is imported.
 * Anything unsupported is a ModelFormatError naming the node, e.g. `node 17 "conv2/3x3" (Conv): attribute group=2
 * is not supported`.
 */
import { ModelFormatError } from '../errors.js';
import type {
  BatchNormNode, BiasAddNode, ConcatNode, ConvNode, DenseNode, Graph, LrnNode, Node, Pads, Pair, PoolNode, ReshapeNode,
  SoftmaxNode, TensorSpec, Weight,
} from '../graph/ir.js';
import { optimize, uniqueName } from '../graph/optimize.js';
import { elementCount, formatDims, nodeOutputShape } from '../graph/shapes.js';
import {
  AttributeType, DataLocation, DataType, decodeModel,
  type AttributeProto, type DimensionProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto,
  type ValueInfoProto,
} from './schema.js';

const MIN_OPSET = 7;
const MAX_OPSET = 17;

const PAD_FOLD_RULE =
  'a Pad with non-zero pads is only supported when its output feeds just one Conv, or one AveragePool with ' +
  'ceil_mode=0 that has count_include_pad=1 or no pads of its own';

export interface ImportOptions {
  /**
   * Float weights stored as raw bytes stay in `bytes` (Weight.float32Bytes), copied only when read: for a caller
   * that copies them elsewhere before `bytes` can change, as loadModel() does.
   */
  viewWeights?: boolean;
}

/** Imports and optimises (see optimize()): the graph loaders run. */
export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): Graph {
  return optimize(importOnnxRaw(bytes, options));
}

/** The graph as imported, before optimize(): BatchNormalization and BiasAdd still separate, Relu not fused. */
export function importOnnxRaw(bytes: Uint8Array, { viewWeights = false }: ImportOptions = {}): Graph {
  const model = decodeModel(bytes);
  const opset = defaultOpset(model);
  if (!model.graph) throw new ModelFormatError('the model has no graph');
  return new GraphImporter(model.graph, opset, viewWeights).run();
}

function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find(({ domain }) => !domain || domain === 'ai.onnx');
  if (!entry) throw new ModelFormatError('the model imports no ai.onnx operator set');
  const version = entry.version ?? 0;
  if (version < MIN_OPSET || version > MAX_OPSET) {
    throw new ModelFormatError(
      `ai.onnx opset ${version} is not supported; supported opsets are ${MIN_OPSET} to ${MAX_OPSET}`,
    );
  }
  return version;
}

type Fail = (message: string) => never;

/** An ONNX node with typed attribute access; remembers which attributes were read so none is silently ignored. */
class OnnxNode {
  readonly op: string;
  readonly domain: string;
  private readonly attributes = new Map<string, AttributeProto>();
  private readonly unread = new Set<string>();

  constructor(private readonly proto: NodeProto, readonly index: number, readonly name: string) {
    this.op = proto.opType ?? '';
    this.domain = proto.domain ?? '';
    for (const attribute of proto.attribute) {
      this.attributes.set(attribute.name ?? '', attribute);
      this.unread.add(attribute.name ?? '');
    }
  }

  readonly fail: Fail = (message) => {
    const label = this.proto.name ? ` "${this.proto.name}"` : '';
    throw new ModelFormatError(`node ${this.index}${label} (${this.op}): ${message}`);
  };

  get inputCount(): number {
    return this.proto.input.length;
  }

  /** The input's name, '' when an optional input is left out. */
  input(index: number): string {
    return this.proto.input[index] ?? '';
  }

  get outputs(): readonly string[] {
    return this.proto.output;
  }

  get output(): string {
    return this.proto.output[0] || this.fail('the node has no output');
  }

  expectInputs(min: number, max = min): void {
    if (this.inputCount < min || this.inputCount > max) {
      this.fail(`expected ${min === max ? min : `${min} to ${max}`} inputs, got ${this.inputCount}`);
    }
  }

  int(name: string, fallback?: number): number {
    return this.read(name, AttributeType.INT, fallback, (attribute) => attribute.i ?? 0);
  }

  /** An int attribute that must be one of `allowed`. */
  intOption(name: string, fallback: number, allowed = [0, 1]): number {
    const value = this.int(name, fallback);
    if (!allowed.includes(value)) this.unsupported(name, value);
    return value;
  }

  ints(name: string, fallback?: number[]): number[] {
    return this.read(name, AttributeType.INTS, fallback, (attribute) => attribute.ints);
  }

  /** Float attributes are float32 in ONNX; the fallback is rounded alike so both compare equal. */
  float(name: string, fallback?: number): number {
    const value = fallback === undefined ? undefined : Math.fround(fallback);
    return this.read(name, AttributeType.FLOAT, value, (attribute) => attribute.f ?? 0);
  }

  string(name: string, fallback?: string): string {
    // A copy: browsers' TextDecoder refuses a view of a resizable ArrayBuffer, which model bytes may be.
    return this.read(name, AttributeType.STRING, fallback, (attribute) => new TextDecoder().decode(new Uint8Array(attribute.s ?? [])));
  }

  tensor(name: string): TensorProto {
    const holdsNone = () => this.fail(`attribute ${name} holds no tensor`);
    return this.read(name, AttributeType.TENSOR, undefined, (attribute) => attribute.t ?? holdsNone());
  }

  /** Marks attributes that do not matter for inference as read. */
  ignore(...names: string[]): void {
    for (const name of names) this.unread.delete(name);
  }

  rejectUnreadAttributes(): void {
    const [name] = this.unread;
    if (name !== undefined) this.fail(`attribute ${name} is not supported`);
  }

  unsupported(attribute: string, value: number | number[] | string, hint?: string): never {
    const shown = Array.isArray(value) ? formatDims(value) : value;
    this.fail(`attribute ${attribute}=${shown} is not supported${hint ? `; ${hint}` : ''}`);
  }

  private read<T>(
    name: string, type: AttributeType, fallback: T | undefined, value: (attribute: AttributeProto) => T,
  ): T {
    this.unread.delete(name);
    const attribute = this.attributes.get(name);
    if (!attribute) return fallback ?? this.fail(`attribute ${name} is missing`);
    if (attribute.type !== type) {
      const [expected, actual] = [type, attribute.type].map((value) => enumName(AttributeType, value));
      this.fail(`attribute ${name} must be ${expected}, got ${actual}`);
    }
    return value(attribute);
  }
}

/** A float constant decoded once: its ONNX tensor name and values. */
interface FloatConstant {
  name: string;
  value: Weight;
}

/** A Pad with real padding, waiting for the Conv or AveragePool that absorbs it. */
interface PendingPad {
  node: OnnxNode;
  input: string;
  pads: Pads;
  consumed: boolean;
}

class GraphImporter {
  /** Initializers and Constant outputs by tensor name. */
  private readonly constants = new Map<string, TensorProto>();
  private readonly decodedFloats = new Map<string, FloatConstant>();
  /** Shapes of the IR tensors defined so far: graph inputs and outputs of emitted nodes. */
  private readonly shapes = new Map<string, number[]>();
  /** Output of a removed pass-through node → the tensor it passes on. */
  private readonly aliases = new Map<string, string>();
  private readonly pendingPads = new Map<string, PendingPad>();
  /** Every tensor some node or graph output reads. */
  private readonly readTensors = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly weights = new Map<string, Weight>();
  private readonly nodes: Node[] = [];

  constructor(private readonly graph: GraphProto, private readonly opset: number, private readonly viewWeights: boolean) {}

  run(): Graph {
    const { graph } = this;
    if (graph.node.length === 0) throw new ModelFormatError('the graph has no nodes');
    if (graph.output.length === 0) throw new ModelFormatError('the graph has no outputs');
    graph.initializer.forEach((tensor, i) => {
      if (!tensor.name) throw new ModelFormatError(`initializer ${i} has no name`);
      this.constants.set(tensor.name, tensor);
    });
    // Older exporters also list initializers as graph inputs; those are weights, not model inputs.
    const inputs = graph.input.filter((value) => !this.constants.has(value.name ?? '')).map(graphInput);
    if (inputs.length === 0) throw new ModelFormatError('the graph has no inputs besides its initializers');
    for (const input of inputs) this.shapes.set(input.name, input.dims);
    for (const node of graph.node) node.input.forEach((name) => this.readTensors.add(name));
    for (const output of graph.output) this.readTensors.add(output.name ?? '');

    graph.node.forEach((proto, index) => {
      this.importNode(new OnnxNode(proto, index, this.uniqueNodeName(proto, index)));
    });
    const outputs = graph.output.map((value, i) => this.graphOutput(value.name || `output ${i}`));
    return { inputs, outputs, nodes: this.nodes, weights: this.weights };
  }

  private uniqueNodeName(proto: NodeProto, index: number): string {
    const name = uniqueName(proto.name || `${proto.opType}_${index}`, (candidate) => this.nodeNames.has(candidate));
    this.nodeNames.add(name);
    return name;
  }

  private importNode(node: OnnxNode): void {
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      node.fail(`operator ${node.domain}.${node.op} is not supported`);
    }
    for (const output of node.outputs) {
      if (output && this.isDefined(output)) node.fail(`output "${output}" is already defined earlier in the graph`);
    }
    // Every supported operator has one inference output; the others (masks, indices, running statistics) only
    // make sense in training.
    node.outputs.forEach((output, i) => {
      if (i > 0 && output && this.readTensors.has(output)) {
        node.fail(`output ${i} "${output}" is used, which is not supported`);
      }
    });
    const converted = this.convert(node);
    node.rejectUnreadAttributes();
    if (converted) this.emit(converted);
  }

  /** The IR node for `node`, or undefined when it only defines a constant or an alias. */
  private convert(node: OnnxNode): Node | undefined {
    switch (node.op) {
      case 'Conv':
        return this.conv(node);
      case 'MaxPool':
        return this.pool(node, 'MaxPool');
      case 'AveragePool':
        return this.pool(node, 'AveragePool');
      case 'GlobalAveragePool':
        return this.withoutAttributes(node, 'GlobalAveragePool');
      case 'Relu':
        return this.withoutAttributes(node, 'Relu');
      case 'Concat':
        return this.concat(node);
      case 'LRN':
        return this.lrn(node);
      case 'BatchNormalization':
        return this.batchNorm(node);
      case 'Gemm':
        return this.gemm(node);
      case 'MatMul':
        return this.matMul(node);
      case 'Add':
        return this.add(node);
      case 'Flatten':
        return this.flatten(node);
      case 'Reshape':
        return this.reshape(node);
      case 'Softmax':
        return this.softmax(node);
      case 'Dropout':
        return this.dropout(node);
      case 'Identity':
        node.expectInputs(1);
        return this.passThrough(node);
      case 'Pad':
        return this.pad(node);
      case 'Constant':
        node.expectInputs(0);
        this.constants.set(node.output, node.tensor('value'));
        return undefined;
      default:
        return node.fail(`operator ${node.op} is not supported`);
    }
  }

  private emit(node: Node): void {
    this.shapes.set(node.output, nodeOutputShape(node, this.shapes, this.weights));
    this.nodes.push(node);
  }

  private conv(node: OnnxNode): ConvNode {
    node.expectInputs(2, 3);
    const { input, padding } = this.paddedInput(node, true);
    const weight = this.floatConstant(node, 1);
    const { dims } = weight.value;
    if (dims.length !== 4) node.fail(`weight "${weight.name}" must be 4-D [out, in, kH, kW], got ${formatDims(dims)}`);
    const kernel: Pair = [dims[2], dims[3]];
    const kernelShape = pairAttribute(node, 'kernel_shape', kernel);
    if (kernelShape[0] !== kernel[0] || kernelShape[1] !== kernel[1]) {
      const mismatch = `${formatDims(kernelShape)} does not match weight "${weight.name}" ${formatDims(dims)}`;
      node.fail(`attribute kernel_shape=${mismatch}`);
    }
    node.intOption('group', 1, [1]);
    const { stride, pads } = readWindow(node);
    return {
      op: 'Conv',
      ...irNode(node, [input]),
      weight: this.asIs(weight),
      bias: node.input(2) ? this.asIs(this.floatConstant(node, 2)) : undefined,
      kernel,
      stride,
      pads: addPads(pads, padding),
      relu: false,
    };
  }

  private pool(node: OnnxNode, op: PoolNode['op']): PoolNode {
    node.expectInputs(1);
    const kernel = pairAttribute(node, 'kernel_shape');
    const { stride, pads } = readWindow(node);
    const ceilMode = node.intOption('ceil_mode', 0) === 1;
    if (op === 'MaxPool') node.intOption('storage_order', 0, [0]);
    const countIncludePad = op === 'AveragePool' && node.intOption('count_include_pad', 0) === 1;
    // Zero padding in front equals counted pool padding, unless the pool also has padding it does not count or a
    // ceil-mode window could stop at a different place.
    const canFold = op === 'AveragePool' && !ceilMode && (countIncludePad || pads.every((pad) => pad === 0));
    const { input, padding } = this.paddedInput(node, canFold);
    return {
      op,
      ...irNode(node, [input]),
      kernel,
      stride,
      pads: addPads(pads, padding),
      ceilMode,
      countIncludePad: countIncludePad || padding !== undefined,
    };
  }

  private withoutAttributes(node: OnnxNode, op: 'GlobalAveragePool' | 'Relu'): Node {
    node.expectInputs(1);
    return { op, ...irNode(node, [this.dataInput(node, 0)]) };
  }

  private concat(node: OnnxNode): ConcatNode {
    if (node.inputCount === 0) node.fail('expected at least 1 input');
    const inputs = Array.from({ length: node.inputCount }, (_, i) => this.dataInput(node, i));
    const axis = node.int('axis');
    const rank = this.shapeOf(inputs[0]).length;
    if (rank !== 4 || normalizeAxis(axis, rank) !== 1) {
      node.unsupported('axis', axis, 'only the channel axis (1 or -3) of 4-D tensors is');
    }
    return { op: 'Concat', ...irNode(node, inputs) };
  }

  private lrn(node: OnnxNode): LrnNode {
    node.expectInputs(1);
    return {
      op: 'LRN',
      ...irNode(node, [this.dataInput(node, 0)]),
      size: node.int('size'),
      alpha: node.float('alpha', 1e-4),
      beta: node.float('beta', 0.75),
      bias: node.float('bias', 1),
    };
  }

  private batchNorm(node: OnnxNode): BatchNormNode {
    node.expectInputs(5);
    node.intOption('spatial', 1, [1]); // opsets 7–8: 0 would mean per-element statistics
    node.intOption('training_mode', 0, [0]); // opset 14+
    node.ignore('momentum'); // only updates running statistics in training
    const [scale, shift, mean, variance] = [1, 2, 3, 4].map((i) => this.asIs(this.floatConstant(node, i)));
    return {
      op: 'BatchNormalization',
      ...irNode(node, [this.dataInput(node, 0)]),
      scale,
      shift,
      mean,
      variance,
      epsilon: node.float('epsilon', 1e-5),
    };
  }

  /** Y = alpha · A · op(B) + beta · C with a constant B and C: a Dense layer with alpha and beta folded in. */
  private gemm(node: OnnxNode): DenseNode {
    node.expectInputs(2, 3);
    const input = this.matrixInput(node);
    node.intOption('transA', 0, [0]);
    const transB = node.intOption('transB', 0) === 1;
    const alpha = node.float('alpha', 1);
    const beta = node.float('beta', 1);
    const b = this.matrixConstant(node, 1);
    const outFeatures = b.value.dims[transB ? 0 : 1];
    const weight =
      transB && alpha === 1
        ? this.asIs(b)
        : this.derived(`${b.name}_dense`, scaled(transB ? b.value : transposed(b.value), alpha));
    const bias = node.input(2)
      ? this.biasVector(node, this.floatConstant(node, 2), [[outFeatures], [1, outFeatures]], beta)
      : undefined;
    return { op: 'Dense', ...irNode(node, [input]), weight, bias, relu: false };
  }

  /** A · B with a constant B [in, out]: a Dense layer without bias (a following Add becomes its BiasAdd). */
  private matMul(node: OnnxNode): DenseNode {
    node.expectInputs(2);
    const input = this.matrixInput(node);
    const b = this.matrixConstant(node, 1);
    const weight = this.derived(`${b.name}_dense`, transposed(b.value));
    return { op: 'Dense', ...irNode(node, [input]), weight, relu: false };
  }

  private add(node: OnnxNode): BiasAddNode {
    node.expectInputs(2);
    const constantIndexes = [0, 1].filter((i) => this.constants.has(this.resolve(node.input(i))));
    if (constantIndexes.length !== 1) node.fail('only adding a constant bias to a computed tensor is supported');
    const input = this.dataInput(node, 1 - constantIndexes[0]);
    const dims = this.shapeOf(input);
    const channels = dims[1];
    // Broadcasting aligns trailing axes, so a per-channel bias of a 4-D tensor carries two trailing 1s.
    const biasShapes: Record<number, number[][]> = {
      2: [[channels], [1, channels]],
      4: [[channels, 1, 1], [1, channels, 1, 1]],
    };
    if (!biasShapes[dims.length]) {
      node.fail(`only adding a bias to a 2-D or 4-D tensor is supported, got ${formatDims(dims)}`);
    }
    const bias = this.biasVector(node, this.floatConstant(node, constantIndexes[0]), biasShapes[dims.length]);
    return { op: 'BiasAdd', ...irNode(node, [input]), bias };
  }

  private flatten(node: OnnxNode): ReshapeNode {
    node.expectInputs(1);
    const input = this.dataInput(node, 0);
    const dims = this.shapeOf(input);
    const axis = node.int('axis', 1);
    if (normalizeAxis(axis, dims.length) !== 1) {
      node.unsupported('axis', axis, 'only 1 is, which keeps the batch dimension');
    }
    return { op: 'Reshape', ...irNode(node, [input]), dims: [1, elementCount(dims.slice(1))] };
  }

  private reshape(node: OnnxNode): ReshapeNode {
    node.expectInputs(2);
    const input = this.dataInput(node, 0);
    const allowZero = node.intOption('allowzero', 0) === 1; // opset 14+
    const dims = resolveReshape(node, this.shapeOf(input), this.intConstant(node, 1), allowZero);
    return { op: 'Reshape', ...irNode(node, [input]), dims };
  }

  private softmax(node: OnnxNode): SoftmaxNode {
    node.expectInputs(1);
    const input = this.dataInput(node, 0);
    const rank = this.shapeOf(input).length;
    // Before opset 13 Softmax flattened the axes from `axis` on (default 1): the same only when axis is the last.
    const axis = node.int('axis', this.opset >= 13 ? -1 : 1);
    if (normalizeAxis(axis, rank) !== rank - 1) {
      node.unsupported('axis', axis, `only the last axis of this ${rank}-D input is`);
    }
    return { op: 'Softmax', ...irNode(node, [input]) };
  }

  private dropout(node: OnnxNode): undefined {
    node.expectInputs(1, 3);
    node.ignore('ratio', 'seed'); // only used in training
    if (node.input(2) && this.intConstant(node, 2).some((value) => value !== 0)) {
      node.fail('training_mode=true is not supported');
    }
    return this.passThrough(node);
  }

  /** Removes the node: whoever reads its output reads its first input instead. */
  private passThrough(node: OnnxNode): undefined {
    const source = this.resolve(node.input(0));
    if (!this.isDefined(source)) {
      node.fail(`input "${node.input(0)}" is not defined by any earlier node, input or initializer`);
    }
    this.aliases.set(node.output, source);
    return undefined;
  }

  /** Pad (constant mode, value 0): dropped when it pads nothing, otherwise held for the node it feeds. */
  private pad(node: OnnxNode): undefined {
    node.expectInputs(1, 3);
    const mode = node.string('mode', 'constant');
    if (mode !== 'constant') node.unsupported('mode', mode);
    const input = this.dataInput(node, 0);
    const oldStyle = this.opset < 11; // pads and value were attributes before opset 11
    const amounts = oldStyle ? node.ints('pads') : this.intConstant(node, 1);
    const value = oldStyle ? node.float('value', 0) : node.input(2) ? this.floatScalar(node, 2) : 0;
    if (value !== 0) node.fail(`padding value ${value} is not supported; only zero padding is`);
    if (amounts.every((amount) => amount === 0)) return this.passThrough(node);
    const pads = spatialPads(node, amounts, this.shapeOf(input).length);
    this.pendingPads.set(node.output, { node, input, pads, consumed: false });
    return undefined;
  }

  /** The first input; a pending Pad feeding it is absorbed when `canFold`, its padding returned. */
  private paddedInput(node: OnnxNode, canFold: boolean): { input: string; padding?: Pads } {
    const pad = this.pendingPads.get(this.resolve(node.input(0)));
    if (!pad || !canFold) return { input: this.dataInput(node, 0) };
    if (pad.consumed) pad.node.fail(PAD_FOLD_RULE);
    pad.consumed = true;
    return { input: pad.input, padding: pad.pads };
  }

  /** A computed input (graph input or earlier node output). */
  private dataInput(node: OnnxNode, index: number): string {
    const name = this.resolve(node.input(index));
    if (!name) node.fail(`input ${index} is missing`);
    this.pendingPads.get(name)?.node.fail(PAD_FOLD_RULE);
    if (this.constants.has(name)) {
      node.fail(`input ${index} "${name}" is a constant; only computed tensors are supported there`);
    }
    if (!this.shapes.has(name)) node.fail(`input ${index} "${name}" is not defined by any earlier node or graph input`);
    return name;
  }

  private matrixInput(node: OnnxNode): string {
    const input = this.dataInput(node, 0);
    const dims = this.shapeOf(input);
    if (dims.length !== 2) node.fail(`input "${input}" must be 2-D [batch, features], got ${formatDims(dims)}`);
    return input;
  }

  private shapeOf(tensor: string): number[] {
    return this.shapes.get(tensor)!;
  }

  private resolve(name: string): string {
    let resolved = name;
    for (let next = this.aliases.get(resolved); next !== undefined; next = this.aliases.get(resolved)) resolved = next;
    return resolved;
  }

  private isDefined(name: string): boolean {
    return this.shapes.has(name) || this.constants.has(name) || this.aliases.has(name) || this.pendingPads.has(name);
  }

  private constantTensor(node: OnnxNode, index: number): { name: string; tensor: TensorProto } {
    const name = this.resolve(node.input(index));
    if (!name) node.fail(`input ${index} is missing`);
    const tensor = this.constants.get(name);
    if (tensor) return { name, tensor };
    if (this.isDefined(name)) {
      node.fail(`input ${index} "${name}" is computed; it must be a constant (initializer or Constant)`);
    }
    return node.fail(`input ${index} "${name}" is missing: no initializer, Constant or earlier node defines it`);
  }

  private floatConstant(node: OnnxNode, index: number): FloatConstant {
    const { name, tensor } = this.constantTensor(node, index);
    let constant = this.decodedFloats.get(name);
    if (!constant) {
      constant = { name, value: decodeFloats(name, tensor, node.fail, this.viewWeights) };
      this.decodedFloats.set(name, constant);
    }
    return constant;
  }

  private matrixConstant(node: OnnxNode, index: number): FloatConstant {
    const constant = this.floatConstant(node, index);
    if (constant.value.dims.length !== 2) {
      node.fail(`weight "${constant.name}" must be 2-D, got ${formatDims(constant.value.dims)}`);
    }
    return constant;
  }

  private floatScalar(node: OnnxNode, index: number): number {
    const { name, value } = this.floatConstant(node, index);
    if (value.data.length !== 1) node.fail(`input "${name}" must hold a single value, got ${formatDims(value.dims)}`);
    return value.data[0];
  }

  private intConstant(node: OnnxNode, index: number): number[] {
    const { name, tensor } = this.constantTensor(node, index);
    return decodeIntegers(name, tensor, node.fail);
  }

  /** Uses the constant unchanged as an IR weight under its own name. */
  private asIs(constant: FloatConstant): string {
    this.weights.set(constant.name, constant.value);
    return constant.name;
  }

  /** Adds a weight computed from constants under a new name that no tensor or weight uses. */
  private derived(base: string, value: Weight): string {
    const taken = (name: string) => this.weights.has(name) || this.constants.has(name) || this.readTensors.has(name);
    const name = uniqueName(base, taken);
    this.weights.set(name, value);
    return name;
  }

  /** A per-channel bias constant (one of `shapes`), times `scale`, as a 1-D IR weight. */
  private biasVector(node: OnnxNode, constant: FloatConstant, shapes: number[][], scale = 1): string {
    const { dims, data } = constant.value;
    if (!shapes.some((shape) => formatDims(shape) === formatDims(dims))) {
      const expected = shapes.map(formatDims).join(' or ');
      node.fail(`constant "${constant.name}" ${formatDims(dims)} is not a per-channel bias; expected ${expected}`);
    }
    if (dims.length === 1 && scale === 1) return this.asIs(constant);
    return this.derived(`${constant.name}_bias`, scaled({ dims: [data.length], data }, scale));
  }

  /** A graph output; when a removed node produced it, the node computing its source takes over the name. */
  private graphOutput(name: string): string {
    const source = this.resolve(name);
    this.pendingPads.get(source)?.node.fail(PAD_FOLD_RULE);
    if (source === name) {
      if (!this.shapes.has(name)) throw new ModelFormatError(`graph output "${name}" is not computed by any node`);
      return name;
    }
    const producer = this.nodes.find((node) => node.output === source);
    if (!producer || this.graph.output.some((output) => output.name === source)) {
      throw new ModelFormatError(`graph output "${name}" is a copy of "${source}", which is not supported`);
    }
    producer.output = name;
    for (const node of this.nodes) node.inputs = node.inputs.map((input) => (input === source ? name : input));
    return name;
  }
}

function irNode(node: OnnxNode, inputs: string[]): { name: string; inputs: string[]; output: string } {
  return { name: node.name, inputs, output: node.output };
}

/** An absent enum field reads as 0, which is UNDEFINED in both AttributeType and DataType. */
function enumName(values: Record<string, number>, value = 0): string {
  return Object.keys(values).find((key) => values[key] === value) ?? String(value);
}

function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function pairAttribute(node: OnnxNode, name: string, fallback?: Pair): Pair {
  const values = node.ints(name, fallback);
  if (values.length !== 2) node.fail(`attribute ${name} must have 2 values (height, width), got ${formatDims(values)}`);
  return [values[0], values[1]];
}

/** Strides and pads shared by Conv and the pools; dilations must be 1 and auto_pad explicit (NOTSET or VALID). */
function readWindow(node: OnnxNode): { stride: Pair; pads: Pads } {
  const autoPad = node.string('auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') node.unsupported('auto_pad', autoPad, 'only NOTSET and VALID are');
  const dilations = node.ints('dilations', [1, 1]);
  if (dilations.some((dilation) => dilation !== 1)) node.unsupported('dilations', dilations);
  const stride = pairAttribute(node, 'strides', [1, 1]);
  const pads = node.ints('pads', [0, 0, 0, 0]);
  if (pads.length !== 4) {
    node.fail(`attribute pads must have 4 values [top, left, bottom, right], got ${formatDims(pads)}`);
  }
  if (autoPad === 'VALID' && pads.some((pad) => pad !== 0)) {
    node.fail('attribute pads cannot be combined with auto_pad=VALID');
  }
  return { stride, pads: [pads[0], pads[1], pads[2], pads[3]] };
}

function addPads(pads: Pads, padding: Pads | undefined): Pads {
  return padding ? [pads[0] + padding[0], pads[1] + padding[1], pads[2] + padding[2], pads[3] + padding[3]] : pads;
}

/** ONNX Pad amounts [x1_begin, x2_begin, …, x1_end, x2_end, …] of an NCHW tensor as IR pads [t, l, b, r]. */
function spatialPads(node: OnnxNode, amounts: number[], rank: number): Pads {
  if (rank !== 4 || amounts.length !== 8) {
    node.fail(`pads ${formatDims(amounts)} are not supported on a ${rank}-D input; only 4-D inputs are`);
  }
  const [batchBegin, channelBegin, top, left, batchEnd, channelEnd, bottom, right] = amounts;
  if (batchBegin || channelBegin || batchEnd || channelEnd) {
    node.fail(`pads ${formatDims(amounts)} pad the batch or channel axis; only height and width can be padded`);
  }
  const pads: Pads = [top, left, bottom, right];
  if (pads.some((pad) => pad < 0)) node.fail(`negative pads ${formatDims(amounts)} (cropping) are not supported`);
  return pads;
}

/** Reshape's target shape with 0 (copy the input dimension, unless allowzero) and -1 (infer) resolved. */
function resolveReshape(node: OnnxNode, input: number[], shape: number[], allowZero: boolean): number[] {
  const dims = shape.map((size, axis) => {
    if (size !== 0 || allowZero) return size;
    if (axis >= input.length) {
      node.fail(`shape ${formatDims(shape)} copies dimension ${axis}, which the input ${formatDims(input)} lacks`);
    }
    return input[axis];
  });
  const inferred = dims.indexOf(-1);
  if (dims.some((size, axis) => size < -1 || (size === -1 && axis !== inferred))) {
    node.fail(`shape ${formatDims(shape)} is invalid: sizes must be positive, 0 or a single -1`);
  }
  if (inferred >= 0) {
    const known = elementCount(dims.filter((size) => size !== -1));
    const total = elementCount(input);
    if (known === 0 || total % known !== 0) node.fail(`cannot reshape ${formatDims(input)} into ${formatDims(shape)}`);
    dims[inferred] = total / known;
  }
  return dims;
}

function transposed({ dims: [rows, columns], data }: Weight): Weight {
  const result = new Float32Array(data.length);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) result[column * rows + row] = data[row * columns + column];
  }
  return { dims: [columns, rows], data: result };
}

function scaled(weight: Weight, factor: number): Weight {
  return factor === 1 ? weight : { dims: weight.dims, data: weight.data.map((value) => value * factor) };
}

function graphInput(value: ValueInfoProto, index: number): TensorSpec {
  const name = value.name || `input ${index}`;
  const fail: Fail = (message) => {
    throw new ModelFormatError(`graph input "${name}": ${message}`);
  };
  const tensorType = value.type?.tensorType;
  if (!tensorType) return fail('only tensor inputs are supported');
  if (tensorType.elemType !== DataType.FLOAT) {
    fail(`element type ${enumName(DataType, tensorType.elemType)} is not supported; only FLOAT is`);
  }
  const dims = tensorType.shape?.dim ?? [];
  if (dims.length === 0) fail('the shape is missing');
  return { name, dims: dims.map((dim, axis) => inputDim(dim, axis, fail)) };
}

function inputDim({ dimValue, dimParam }: DimensionProto, axis: number, fail: Fail): number {
  if (axis === 0) {
    // The executor loops over the batch, so any run-time batch works; the IR holds 1.
    if (dimValue === undefined || dimValue === 0 || dimValue === 1) return 1;
    fail(`batch dimension ${dimValue} is not supported; it must be 1 or symbolic`);
  }
  if (dimValue === undefined) {
    fail(`dimension ${axis} is ${dimParam ? `symbolic ("${dimParam}")` : 'unknown'}; only the batch dimension may be`);
  }
  if (dimValue <= 0) fail(`dimension ${axis} is ${dimValue}`);
  return dimValue;
}

/** How one element type is stored: bytes per value in raw_data, the typed field otherwise, and a raw reader. */
interface Storage {
  bytes: number;
  typed(tensor: TensorProto): number[];
  read(view: DataView, offset: number): number;
}

const FLOAT_STORAGE: Storage = { bytes: 4, typed: (t) => t.floatData, read: (view, at) => view.getFloat32(at, true) };

const INTEGER_STORAGE: Partial<Record<number, Storage>> = {
  [DataType.INT64]: { bytes: 8, typed: (t) => t.int64Data, read: (view, at) => Number(view.getBigInt64(at, true)) },
  [DataType.INT32]: { bytes: 4, typed: (t) => t.int32Data, read: (view, at) => view.getInt32(at, true) },
  [DataType.BOOL]: { bytes: 1, typed: (t) => t.int32Data, read: (view, at) => view.getUint8(at) },
};

/**
 * A FLOAT tensor as a fresh, aligned Float32Array (raw_data may sit at any offset of the model bytes); with
 * `view`, raw_data stays where it is, copied to an aligned array only if read as `data`.
 */
function decodeFloats(name: string, tensor: TensorProto, fail: Fail, view: boolean): Weight {
  if (tensor.dataType !== DataType.FLOAT) {
    fail(`tensor "${name}" has data type ${enumName(DataType, tensor.dataType)}; only FLOAT weights are supported`);
  }
  if (!view || !tensor.rawData?.length) {
    return { dims: [...tensor.dims], data: readValues(name, tensor, FLOAT_STORAGE, (count) => new Float32Array(count), fail) };
  }
  checkStoredCount(name, tensor, FLOAT_STORAGE, fail);
  const float32Bytes = tensor.rawData;
  let data: Float32Array | undefined;
  return {
    dims: [...tensor.dims],
    float32Bytes,
    get data() {
      // A fresh, aligned copy: not float32Bytes.slice(), which is a view where the file came as a Node Buffer.
      return (data ??= new Float32Array(new Uint8Array(float32Bytes).buffer));
    },
  };
}

/** An INT64, INT32 or BOOL tensor (shapes, flags) as numbers. */
function decodeIntegers(name: string, tensor: TensorProto, fail: Fail): number[] {
  const storage = INTEGER_STORAGE[tensor.dataType ?? DataType.UNDEFINED];
  if (!storage) return fail(`tensor "${name}" has data type ${enumName(DataType, tensor.dataType)}; expected INT64`);
  return readValues(name, tensor, storage, (count) => new Array<number>(count), fail);
}

/** The tensor's element count, once its valid dims and the values it stores are checked to agree. */
function checkStoredCount(name: string, tensor: TensorProto, storage: Storage, fail: Fail): number {
  if (tensor.dataLocation === DataLocation.EXTERNAL) {
    fail(`tensor "${name}" keeps its data in an external file, which is not supported; embed the weights in the model`);
  }
  if (!tensor.dims.every((dim) => Number.isInteger(dim) && dim >= 0)) {
    fail(`tensor "${name}" has invalid dims ${formatDims(tensor.dims)}`);
  }
  const count = elementCount(tensor.dims);
  const stored = tensor.rawData?.length ? tensor.rawData.length / storage.bytes : storage.typed(tensor).length;
  if (stored !== count) {
    fail(`tensor "${name}" holds ${stored} values, its shape ${formatDims(tensor.dims)} needs ${count}`);
  }
  return count;
}

function readValues<T extends Float32Array | number[]>(
  name: string, tensor: TensorProto, storage: Storage, create: (count: number) => T, fail: Fail,
): T {
  // Checked before allocating, so absurd dims in a corrupt file fail cleanly.
  const count = checkStoredCount(name, tensor, storage, fail);
  const raw = tensor.rawData?.length ? tensor.rawData : undefined;
  const typed = storage.typed(tensor);
  const values = create(count);
  if (raw && values instanceof Float32Array) {
    // Little-endian floats, as wasm and every host this runs on store them: one byte copy into the aligned array.
    new Uint8Array(values.buffer).set(raw);
  } else if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) values[i] = storage.read(view, i * storage.bytes);
  } else {
    for (let i = 0; i < count; i++) values[i] = typed[i];
  }
  return values;
}
