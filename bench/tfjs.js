// The TensorFlow.js peer: the same GoogLeNet graph (our IR, the same weights) built from TF.js ops and run on its
// wasm backend (XNNPACK, SIMD, one thread). TF.js works in NHWC, so weights are transposed once here and the
// benchmark feeds an NHWC copy of the input; ceil-mode max pooling becomes explicit -∞ padding, as a PyTorch
// model converted to TF.js carries it.

import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { inferShapes } from '../dist/graph/shapes.js';

let ready;

/** Selects TF.js's wasm backend (SIMD, no threads), once per process. */
export function initTfjs() {
  ready ??= (async () => {
    setWasmPaths(new URL('../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url).pathname);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await tf.setBackend('wasm');
    await tf.ready();
    return { version: tf.version_core, backend: tf.getBackend() };
  })();
  return ready;
}

/** NCHW floats → NHWC floats. */
export function toNhwc(data, [, channels, height, width]) {
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < height * width; i++) out[i * channels + c] = data[c * height * width + i];
  }
  return out;
}

/** OIHW convolution weights → HWIO. */
function toHwio({ dims: [outC, inC, kh, kw], data }) {
  const out = new Float32Array(data.length);
  for (let o = 0; o < outC; o++) {
    for (let i = 0; i < inC; i++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) out[((y * kw + x) * inC + i) * outC + o] = data[((o * inC + i) * kh + y) * kw + x];
      }
    }
  }
  return tf.tensor4d(out, [kh, kw, inC, outC]);
}

/** Builds `graph` (single input, single output) from TF.js ops; returns run(nhwcInput) → output values. */
export function buildTfjsGraph(graph) {
  const shapes = inferShapes(graph);
  const weight = (name) => graph.weights.get(name);
  const constants = new Map();
  for (const node of graph.nodes) {
    if (node.op === 'Conv') constants.set(node.weight, toHwio(weight(node.weight)));
    if (node.op === 'Dense') constants.set(node.weight, tf.tensor2d(weight(node.weight).data, weight(node.weight).dims));
    if ((node.op === 'Conv' || node.op === 'Dense') && node.bias) constants.set(node.bias, tf.tensor1d(weight(node.bias).data));
  }
  const layer = (node, x) => {
    switch (node.op) {
      case 'Conv': {
        const [top, left, bottom, right] = node.pads;
        return tf.fused.conv2d({
          x, filter: constants.get(node.weight), strides: node.stride, pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
          bias: node.bias ? constants.get(node.bias) : undefined, activation: node.relu ? 'relu' : 'linear',
        });
      }
      case 'MaxPool':
      case 'AveragePool': {
        const [, , outH, outW] = shapes.get(node.output);
        const [, , inH, inW] = shapes.get(node.inputs[0]);
        const [top, left] = node.pads;
        // Pad to exactly the windows the output needs (ceil mode's overhang included).
        const bottom = (outH - 1) * node.stride[0] + node.kernel[0] - inH - top;
        const right = (outW - 1) * node.stride[1] + node.kernel[1] - inW - left;
        const padded = top || left || bottom || right
          ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], node.op === 'MaxPool' ? -Infinity : 0)
          : x;
        const pool = node.op === 'MaxPool' ? tf.maxPool : tf.avgPool;
        return pool(padded, node.kernel, node.stride, 'valid');
      }
      case 'GlobalAveragePool':
        return tf.mean(x, [1, 2], true);
      case 'Concat':
        return tf.concat(node.inputs.map((input) => values.get(input)), 3);
      case 'Reshape':
        return tf.reshape(x, [1, -1]);
      case 'Dense': {
        // Unfused: TF.js 4.22's wasm fused matMul with transposeB gave wrong results here (16 % off).
        const product = tf.matMul(x, constants.get(node.weight), false, true);
        const biased = node.bias ? tf.add(product, constants.get(node.bias)) : product;
        return node.relu ? tf.relu(biased) : biased;
      }
      case 'Relu':
        return tf.relu(x);
      case 'Softmax':
        return tf.softmax(x);
      default:
        throw new Error(`the TF.js peer does not build ${node.op} (node "${node.name}")`);
    }
  };
  const values = new Map();
  const run = (input) => tf.tidy(() => {
    values.clear();
    values.set(graph.inputs[0].name, input);
    for (const node of graph.nodes) values.set(node.output, layer(node, values.get(node.inputs[0])));
    return values.get(graph.outputs[0]);
  });
  return {
    async run(nhwc, [, channels, height, width]) {
      const input = tf.tensor4d(nhwc, [1, height, width, channels]);
      const output = run(input);
      const data = await output.data();
      input.dispose();
      output.dispose();
      return data;
    },
    dispose() {
      for (const tensor of constants.values()) tensor.dispose();
    },
  };
}
