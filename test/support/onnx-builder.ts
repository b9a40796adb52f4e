/**
 * Builds ONNX model bytes in tests, with the runtime's own schema: small hand-written models for the importer,
 * and graphToOnnx(), which writes an IR graph as a standard ONNX model that onnxruntime can run as a reference.
 */
import type { Graph, Node } from '../../src/graph/ir.js';
import { inferShapes } from '../../src/graph/shapes.js';
import {
  AttributeType, DataLocation, DataType, encodeModel,
  type AttributeProto, type DimensionProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from '../../src/onnx/schema.js';

export interface TensorInit {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array | number[];
  /** Defaults to INT64 for a BigInt64Array, FLOAT otherwise. */
  dataType?: DataType;
  /** raw_data (the default, as exporters write it) or the typed field: float_data, int64_data or int32_data. */
  asRawData?: boolean;
  /** Writes no values and points data_location at an external file instead. */
  external?: boolean;
}

/** Plain numbers are INT attributes, number arrays INTS, strings STRING; floats and tensors use the helpers. */
export type AttributeValue =
  | number
  | number[]
  | string
  | { kind: 'float'; value: number }
  | { kind: 'tensor'; tensor: TensorInit };

export const float = (value: number): AttributeValue => ({ kind: 'float', value });
export const tensorAttribute = (tensor: TensorInit): AttributeValue => ({ kind: 'tensor', tensor });

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface ValueSpec {
  name: string;
  /** Numbers are dim_value, strings dim_param, null a dimension with neither; no dims means no shape. */
  dims?: (number | string | null)[];
  elemType?: DataType;
}

export interface ModelSpec {
  /** ai.onnx opset, 13 by default. */
  opset?: number;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: TensorInit[];
  nodes: NodeSpec[];
  /** Also lists the initializers as graph inputs, as exporters did before IR version 4. */
  initializersAsInputs?: boolean;
}

/** IR version 8 covers opsets up to 18 and loads in onnxruntime with any older opset too. */
const IR_VERSION = 8;

export function buildOnnxModel(spec: ModelSpec): Uint8Array {
  return encodeModel(onnxModelProto(spec));
}

function onnxModelProto({ opset = 13, inputs, outputs, initializers = [], nodes, initializersAsInputs = false }: ModelSpec): ModelProto {
  const initializerInputs = initializersAsInputs ? initializers.map(({ name, dims }) => ({ name, dims })) : [];
  return {
    irVersion: IR_VERSION,
    producerName: 'googlenet-wasm tests',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'test',
      node: nodes.map(nodeProto),
      initializer: initializers.map(tensorProto),
      input: [...inputs, ...initializerInputs].map(valueInfo),
      output: outputs.map(valueInfo),
    },
  };
}

function tensorProto({ name, dims, data, dataType, asRawData = true, external = false }: TensorInit): TensorProto {
  const type = dataType ?? (data instanceof BigInt64Array ? DataType.INT64 : DataType.FLOAT);
  const values = Array.from(data, Number);
  const tensor: TensorProto = { name, dims, dataType: type, floatData: [], int32Data: [], int64Data: [], externalData: [] };
  if (external) {
    return { ...tensor, dataLocation: DataLocation.EXTERNAL, externalData: [{ key: 'location', value: `${name}.bin` }] };
  }
  if (asRawData) return { ...tensor, rawData: rawBytes(values, type) };
  if (type === DataType.FLOAT) return { ...tensor, floatData: values };
  if (type === DataType.INT64) return { ...tensor, int64Data: values };
  return { ...tensor, int32Data: values };
}

/** Bytes per value and a little-endian writer, per raw_data element type. */
const RAW_WRITERS: Partial<Record<DataType, [number, (view: DataView, at: number, value: number) => void]>> = {
  [DataType.FLOAT]: [4, (view, at, value) => view.setFloat32(at, value, true)],
  [DataType.INT64]: [8, (view, at, value) => view.setBigInt64(at, BigInt(value), true)],
  [DataType.INT32]: [4, (view, at, value) => view.setInt32(at, value, true)],
  [DataType.BOOL]: [1, (view, at, value) => view.setUint8(at, value)],
};

function rawBytes(values: number[], type: DataType): Uint8Array {
  const writer = RAW_WRITERS[type];
  if (!writer) throw new Error(`onnx-builder: cannot write raw data of type ${type}`);
  const [bytes, write] = writer;
  const view = new DataView(new ArrayBuffer(values.length * bytes));
  values.forEach((value, i) => write(view, i * bytes, value));
  return new Uint8Array(view.buffer);
}

function nodeProto({ op, inputs, outputs, name, domain, attributes = {} }: NodeSpec): NodeProto {
  return {
    opType: op,
    input: inputs,
    output: outputs,
    name,
    domain,
    attribute: Object.entries(attributes).map(([key, value]) => attributeProto(key, value)),
  };
}

function attributeProto(name: string, value: AttributeValue): AttributeProto {
  const attribute = { name, floats: [], ints: [], strings: [] };
  if (typeof value === 'string') return { ...attribute, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`onnx-builder: attribute ${name}=${value} is not an int; use float()`);
    return { ...attribute, type: AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) return { ...attribute, type: AttributeType.INTS, ints: value };
  switch (value.kind) {
    case 'float':
      return { ...attribute, type: AttributeType.FLOAT, f: value.value };
    case 'tensor':
      return { ...attribute, type: AttributeType.TENSOR, t: tensorProto(value.tensor) };
  }
}

function valueInfo({ name, dims, elemType = DataType.FLOAT }: ValueSpec): ValueInfoProto {
  const dimension = (dim: number | string | null): DimensionProto =>
    dim === null ? {} : typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim };
  return { name, type: { tensorType: { elemType, shape: dims && { dim: dims.map(dimension) } } } };
}

/**
 * The IR graph as a standard ONNX model with the same tensor, node and weight names: fused Relus become Relu
 * nodes, Dense becomes Gemm (transB=1, after a Flatten when its input is not 2-D), BiasAdd becomes Add.
 */
export function graphToOnnx(graph: Graph, opset = 13): Uint8Array {
  const shapes = inferShapes(graph);
  const initializers: TensorInit[] = [...graph.weights].map(([name, { dims, data }]) => ({ name, dims, data }));
  const nodes = graph.nodes.flatMap((node) => onnxNodes(node, shapes, opset, initializers));
  return buildOnnxModel({
    opset,
    inputs: graph.inputs,
    outputs: graph.outputs.map((name) => ({ name, dims: shapes.get(name) })),
    initializers,
    nodes,
  });
}

/** The ONNX nodes computing `node`; extra constants they need are appended to `initializers`. */
function onnxNodes(node: Node, shapes: Map<string, number[]>, opset: number, initializers: TensorInit[]): NodeSpec[] {
  const { name, inputs, output } = node;
  const single = (op: string, attributes: Record<string, AttributeValue> = {}, nodeInputs = inputs): NodeSpec[] => [
    { op, name, inputs: nodeInputs, outputs: [output], attributes },
  ];
  const inputDims = shapes.get(inputs[0])!;
  switch (node.op) {
    case 'Conv': {
      const attributes = { kernel_shape: node.kernel, strides: node.stride, pads: node.pads };
      return withRelu(node.relu, single('Conv', attributes, [inputs[0], node.weight, ...optional(node.bias)]));
    }
    case 'MaxPool':
    case 'AveragePool': {
      if (node.ceilMode && opset < 10) throw new Error(`onnx-builder: ceil_mode needs opset 10, got ${opset}`);
      const attributes: Record<string, AttributeValue> = { kernel_shape: node.kernel, strides: node.stride, pads: node.pads };
      if (opset >= 10) attributes.ceil_mode = Number(node.ceilMode);
      if (node.op === 'AveragePool') attributes.count_include_pad = Number(node.countIncludePad);
      return single(node.op, attributes);
    }
    case 'GlobalAveragePool':
    case 'Relu':
      return single(node.op);
    case 'Concat':
      return single('Concat', { axis: 1 });
    case 'LRN':
      return single('LRN', { size: node.size, alpha: float(node.alpha), beta: float(node.beta), bias: float(node.bias) });
    case 'Dense': {
      const flatten: NodeSpec[] = [];
      let matrix = inputs[0];
      if (inputDims.length !== 2) {
        matrix = `${output}_flattened_input`;
        flatten.push({ op: 'Flatten', name: `${name}_flatten`, inputs, outputs: [matrix], attributes: { axis: 1 } });
      }
      const gemm = single('Gemm', { transB: 1 }, [matrix, node.weight, ...optional(node.bias)]);
      return [...flatten, ...withRelu(node.relu, gemm)];
    }
    case 'BatchNormalization':
      return single('BatchNormalization', { epsilon: float(node.epsilon) }, [
        inputs[0], node.scale, node.shift, node.mean, node.variance,
      ]);
    case 'BiasAdd': {
      let bias = node.bias;
      if (inputDims.length === 4) {
        // ONNX broadcasting aligns trailing axes: a per-channel bias needs the shape [C, 1, 1].
        const { data } = initializers.find((init) => init.name === node.bias)!;
        bias = `${node.bias}_per_channel`;
        initializers.push({ name: bias, dims: [data.length, 1, 1], data });
      }
      return single('Add', {}, [inputs[0], bias]);
    }
    case 'Reshape': {
      const shape = `${name}_shape`;
      initializers.push({ name: shape, dims: [node.dims.length], data: BigInt64Array.from(node.dims, BigInt) });
      return single('Reshape', {}, [inputs[0], shape]);
    }
    case 'Softmax':
      return single('Softmax', { axis: opset >= 13 ? -1 : inputDims.length - 1 });
  }
}

function optional(name: string | undefined): string[] {
  return name === undefined ? [] : [name];
}

/** Splits a layer with a fused Relu into the layer, writing a new intermediate tensor, and a Relu node. */
function withRelu(relu: boolean, [layer]: NodeSpec[]): NodeSpec[] {
  if (!relu) return [layer];
  const output = layer.outputs[0];
  const beforeRelu = `${output}_before_relu`;
  return [
    { ...layer, outputs: [beforeRelu] },
    { op: 'Relu', name: `${layer.name}_relu`, inputs: [beforeRelu], outputs: [output] },
  ];
}
