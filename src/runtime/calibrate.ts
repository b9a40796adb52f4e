/**
 * Activation calibration: runs a float32 graph over sample inputs and records each activation tensor's observed
 * [min, max] (graph inputs and every node output), which int8 activation quantization needs.
 */
import { InputError } from '../errors.js';
import type { ActivationRanges } from '../format/model-file.js';
import type { Graph } from '../graph/ir.js';
import { elementCount } from '../graph/shapes.js';
import { loadModel, type LoadOptions } from './load.js';
import type { Tensor } from './model.js';

export interface CalibrationOptions extends LoadOptions {
  /** Called after each sample. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * `batches` holds one tensor per graph input for each run, any batch size. The graph runs with every node output
 * made a graph output, so the planner keeps all of them alive and readable; samples run one at a time so that
 * memory stays one sample's activations whatever the batch size.
 */
export async function collectActivationRanges(
  graph: Graph, batches: Tensor[][], options: CalibrationOptions = {},
): Promise<ActivationRanges> {
  if (batches.length === 0) throw new InputError('calibration needs at least one input');
  const observed = graph.nodes.map((node) => node.output);
  const model = await loadModel({ ...graph, outputs: observed }, options);
  const ranges = new Map<string, [number, number]>();
  const record = (name: string, data: Float32Array) => {
    const range = ranges.get(name) ?? [Infinity, -Infinity];
    for (let i = 0; i < data.length; i++) {
      if (data[i] < range[0]) range[0] = data[i];
      if (data[i] > range[1]) range[1] = data[i];
    }
    ranges.set(name, range);
  };
  try {
    const samples = batches.map((tensors) => tensors[0]?.dims[0] ?? 0);
    const total = samples.reduce((sum, count) => sum + count, 0);
    let done = 0;
    batches.forEach((tensors, run) => {
      for (let sample = 0; sample < samples[run]; sample++) {
        const single = tensors.map((tensor) => sampleOf(tensor, sample));
        const outputs = model.runTensors(single); // checks the inputs against the graph first
        single.forEach((tensor, i) => record(graph.inputs[i].name, tensor.data));
        outputs.forEach((output, i) => record(observed[i], output.data));
        options.onProgress?.(++done, total);
      }
    });
  } finally {
    model.dispose();
  }
  return Object.fromEntries(ranges);
}

/** Sample `index` of a batched tensor, as a batch of one. */
function sampleOf({ data, dims }: Tensor, index: number): Tensor {
  const size = elementCount(dims.slice(1));
  return { data: data.subarray(index * size, (index + 1) * size), dims: [1, ...dims.slice(1)] };
}
