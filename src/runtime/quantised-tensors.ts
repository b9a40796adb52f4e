/**
 * Which activation tensors the int8 path keeps as quantised bytes between layers. With calibrated ranges, a
 * convolution's epilogue can quantise its output straight away (the scale is known before the run), max pooling
 * works on the bytes (quantisation is monotonic), and a Concat of such tensors costs nothing, as its inputs are
 * written into its slices. Without ranges (dynamic quantisation) every tensor stays f32: its range is only known
 * once it has been computed.
 */

import type { Graph, Node } from '../graph/ir.js';
import { concatSlices } from '../graph/plan.js';

/**
 * The tensors to store as bytes, each mapped to the tensor whose calibrated range quantises it: itself; for a
 * Concat input, its Concat output (all slices of one output share its scale); for a MaxPool output, the
 * MaxPool's input (the maximum of bytes is only the quantised maximum on the same scale). A tensor qualifies
 * when it is made by a Conv, a MaxPool of bytes or a Concat of bytes, has such a range, is no graph output,
 * and is read only by Convs (which take bytes), MaxPools and Concats whose outputs are bytes too.
 */
export function quantisedTensors(graph: Graph, ranges: Record<string, [number, number]>): Map<string, string> {
  const slices = concatSlices(graph);
  const producers = new Map<string, Node>(graph.nodes.map((node) => [node.output, node]));
  const consumers = new Map<string, Node[]>();
  for (const node of graph.nodes) for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const rangeOf = (tensor: string): string => {
    const producer = producers.get(tensor);
    return producer?.op === 'MaxPool' ? rangeOf(producer.inputs[0]) : slices.get(tensor) ?? tensor;
  };

  const graphOutputs = new Set(graph.outputs);
  const chosen = new Set(graph.nodes.filter((node) => (
    (node.op === 'Conv' || node.op === 'MaxPool' || node.op === 'Concat') && !graphOutputs.has(node.output)
  )).map((node) => node.output));
  const qualifies = (tensor: string): boolean => {
    const producer = producers.get(tensor)!;
    if (producer.op === 'MaxPool' && (!chosen.has(producer.inputs[0]) || slices.has(tensor))) return false;
    if (producer.op === 'Concat' && !producer.inputs.every((input) => chosen.has(input) && slices.get(input) === tensor)) return false;
    if (slices.has(tensor) && !chosen.has(slices.get(tensor)!)) return false;
    if (!ranges[rangeOf(tensor)]) return false;
    return (consumers.get(tensor) ?? []).every((reader) => reader.op === 'Conv' || (
      (reader.op === 'MaxPool' || reader.op === 'Concat') && chosen.has(reader.output)
    ));
  };
  // Dropping one tensor can disqualify its neighbours; repeat until nothing changes.
  for (let changed = true; changed;) {
    changed = false;
    for (const tensor of chosen) {
      if (!qualifies(tensor)) {
        chosen.delete(tensor);
        changed = true;
      }
    }
  }
  return new Map([...chosen].map((tensor) => [tensor, rangeOf(tensor)]));
}
