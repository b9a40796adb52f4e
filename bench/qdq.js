// The peer's int8 model: a QDQ copy of an ONNX file, made the way onnxruntime's static quantisation makes one —
// u8 activations with min/max calibration, s8 weights per output channel, s32 biases — so that onnxruntime's
// graph optimiser turns it into QLinearConv and friends.

import * as ortNode from 'onnxruntime-node';
import { DataType, decodeModel, encodeModel } from '../dist/onnx/schema.js';

/** Returns QDQ ONNX bytes for `bytes`, calibrated on `inputs` (Float32Arrays of the model's input shape). */
export async function quantizeToQdq(bytes, inputs, dims) {
  const model = decodeModel(bytes);
  const graph = model.graph;
  const initializers = new Map(graph.initializer.map((tensor) => [tensor.name, tensor]));
  const activations = floatActivations(graph, initializers);
  const ranges = await calibrate(model, activations, inputs, dims);
  const consumers = consumersOf(graph);
  const added = { nodes: [], initializers: [] };

  const scales = new Map();
  for (const name of activations) {
    const users = consumers.get(name) ?? [];
    // A tensor read only by a Relu is quantised after the Relu, as onnxruntime's quantiser does (Conv+Relu fuse).
    if (users.length === 1 && users[0].opType === 'Relu') continue;
    const [low, high] = ranges.get(name);
    const scale = Math.max(high - Math.min(low, 0), 1e-8) / 255;
    const zeroPoint = Math.round(-Math.min(low, 0) / scale);
    scales.set(name, scale);
    added.initializers.push(floatTensor(`${name}_scale`, [], [scale]), tensorOf(`${name}_zero_point`, [], DataType.UINT8, Uint8Array.of(zeroPoint)));
    added.nodes.push(
      { opType: 'QuantizeLinear', input: [name, `${name}_scale`, `${name}_zero_point`], output: [`${name}_quantized`], attribute: [] },
      { opType: 'DequantizeLinear', input: [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`], output: [`${name}_dequantized`], attribute: [] },
    );
    for (const user of users) user.input = user.input.map((input) => (input === name ? `${name}_dequantized` : input));
  }

  for (const node of graph.node.filter((n) => n.opType === 'Conv')) {
    const weight = initializers.get(node.input[1]);
    const inputScale = scales.get(node.input[0].replace(/_dequantized$/, ''));
    const { values, channelScales } = quantizePerChannel(floatValues(weight), weight.dims[0]);
    const name = weight.name;
    added.initializers.push(
      tensorOf(`${name}_quantized`, weight.dims, DataType.INT8, values),
      floatTensor(`${name}_scale`, [weight.dims[0]], channelScales),
      tensorOf(`${name}_zero_point`, [weight.dims[0]], DataType.INT8, new Int8Array(weight.dims[0])),
    );
    added.nodes.push(dequantize(name, 0));
    node.input[1] = `${name}_dequantized`;
    if (node.input[2] && inputScale) {
      const bias = initializers.get(node.input[2]);
      const biasScales = channelScales.map((s) => s * inputScale);
      const quantized = Int32Array.from(floatValues(bias), (b, m) => Math.round(b / biasScales[m]));
      added.initializers.push(
        tensorOf(`${bias.name}_quantized`, bias.dims, DataType.INT32, quantized),
        floatTensor(`${bias.name}_scale`, bias.dims, biasScales),
        tensorOf(`${bias.name}_zero_point`, bias.dims, DataType.INT32, new Int32Array(bias.dims[0])),
      );
      added.nodes.push(dequantize(bias.name, 0));
      node.input[2] = `${bias.name}_dequantized`;
    }
  }
  graph.node = topologicalOrder([...added.nodes, ...graph.node], graph, [...graph.initializer, ...added.initializers]);
  // The f32 weights and biases that were replaced by quantised ones are no longer read.
  const read = new Set(graph.node.flatMap((node) => node.input));
  graph.initializer = [...graph.initializer.filter((tensor) => read.has(tensor.name)), ...added.initializers];
  return encodeModel(model);
}

function floatActivations(graph, initializers) {
  const inputs = graph.input.map((input) => input.name).filter((name) => !initializers.has(name));
  const produced = graph.node.filter((node) => node.opType !== 'Constant' && node.opType !== 'Shape').flatMap((node) => node.output);
  return [...inputs, ...produced].filter((name) => name);
}

/** [min, max] of every activation over the calibration inputs, with onnxruntime-node running the f32 model. */
async function calibrate(model, names, inputs, dims) {
  const probe = decodeModel(encodeModel(model));
  const existing = new Set(probe.graph.output.map((output) => output.name));
  probe.graph.output.push(...names.filter((name) => !existing.has(name)).map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } })));
  const session = await ortNode.InferenceSession.create(encodeModel(probe));
  const ranges = new Map(names.map((name) => [name, [Infinity, -Infinity]]));
  for (const input of inputs) {
    const results = await session.run({ [session.inputNames[0]]: new ortNode.Tensor('float32', input, dims) });
    for (const name of names) {
      const range = ranges.get(name);
      for (const value of results[name].data) {
        if (value < range[0]) range[0] = value;
        if (value > range[1]) range[1] = value;
      }
    }
  }
  await session.release();
  return ranges;
}

function consumersOf(graph) {
  const consumers = new Map();
  for (const node of graph.node) {
    for (const input of node.input) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }
  return consumers;
}

function quantizePerChannel(values, channels) {
  const depth = values.length / channels;
  const channelScales = new Float32Array(channels);
  const quantized = new Int8Array(values.length);
  for (let m = 0; m < channels; m++) {
    const row = values.subarray(m * depth, (m + 1) * depth);
    const scale = Math.max(...row.map(Math.abs)) / 127 || 1;
    channelScales[m] = scale;
    row.forEach((v, k) => (quantized[m * depth + k] = Math.round(v / scale)));
  }
  return { values: quantized, channelScales };
}

function dequantize(name, axis) {
  return {
    opType: 'DequantizeLinear',
    input: [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`],
    output: [`${name}_dequantized`],
    attribute: [{ name: 'axis', type: 2, i: axis, floats: [], ints: [], strings: [] }],
  };
}

function floatValues(tensor) {
  if (tensor.rawData?.length) return new Float32Array(tensor.rawData.slice().buffer);
  return Float32Array.from(tensor.floatData);
}

const floatTensor = (name, dims, values) => tensorOf(name, dims, DataType.FLOAT, Float32Array.from(values));

function tensorOf(name, dims, dataType, typed) {
  return { name, dims, dataType, rawData: new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength), floatData: [], int32Data: [], int64Data: [], externalData: [] };
}

/** Orders nodes so that every input is produced before it is read (the added Q/DQ nodes interleave). */
function topologicalOrder(nodes, graph, initializers) {
  const available = new Set([...graph.input.map((i) => i.name), ...initializers.map((t) => t.name), '']);
  const ordered = [];
  let pending = nodes;
  while (pending.length) {
    const ready = pending.filter((node) => node.input.every((input) => available.has(input)));
    if (!ready.length) throw new Error('QDQ graph has a cycle or a missing input');
    for (const node of ready) {
      ordered.push(node);
      node.output.forEach((output) => available.add(output));
    }
    pending = pending.filter((node) => !ready.includes(node));
  }
  return ordered;
}
