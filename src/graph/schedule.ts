/**
 * The order the runtime executes a graph in, and the pointwise groups it runs as one GEMM: the 1×1 stride-1
 * unpadded convolutions that read the same tensor (three per Inception block), whose input columns are then
 * packed once for all of them (assembly/conv.ts).
 */

import type { ConvNode, Node } from './ir.js';

export function isPointwiseConv(node: Node): node is ConvNode {
  return node.op === 'Conv' && node.kernel.every((k) => k === 1) && node.stride.every((s) => s === 1) && node.pads.every((p) => p === 0);
}

/**
 * The nodes in their order, except that each pointwise convolution is moved up next to the first one that reads
 * the same tensor. That is safe: it reads only that tensor, which is ready by then.
 */
export function groupPointwiseSiblings(nodes: Node[]): Node[] {
  const order: Node[] = [];
  const placed = new Set<Node>();
  for (const node of nodes) {
    if (placed.has(node)) continue;
    const siblings = isPointwiseConv(node)
      ? nodes.filter((other) => !placed.has(other) && isPointwiseConv(other) && other.inputs[0] === node.inputs[0])
      : [node];
    for (const sibling of siblings) placed.add(sibling);
    order.push(...siblings);
  }
  return order;
}

/** The runs of two or more consecutive pointwise convolutions that read the same tensor. */
export function pointwiseGroups(nodes: Node[]): ConvNode[][] {
  const groups: ConvNode[][] = [];
  let run: ConvNode[] = [];
  for (const node of [...nodes, undefined]) {
    if (node && isPointwiseConv(node) && (run.length === 0 || run[0].inputs[0] === node.inputs[0])) {
      run.push(node);
      continue;
    }
    if (run.length > 1) groups.push(run);
    run = node && isPointwiseConv(node) ? [node] : [];
  }
  return groups;
}
