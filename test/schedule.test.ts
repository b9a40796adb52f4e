/**
 * The execution order: the 1×1 convolutions that read the same tensor are moved next to each other and run as one
 * GEMM (a pointwise group), without breaking any dependency; the model reports the groups and shares their time.
 */

import { describe, expect, it } from 'vitest';
import type { Node } from '../src/graph/ir.js';
import { groupPointwiseSiblings, pointwiseGroups } from '../src/graph/schedule.js';
import { importOnnx } from '../src/onnx/import.js';
import { loadModel } from '../src/runtime/load.js';
import { GOOGLENET_FIXTURES, readFixture } from './support/fixtures.js';

/** Whether every node reads only graph inputs, weights and tensors written by nodes before it. */
function isTopological(nodes: Node[], inputs: string[]): boolean {
  const ready = new Set(inputs);
  return nodes.every((node) => {
    const ok = node.inputs.every((tensor) => ready.has(tensor));
    ready.add(node.output);
    return ok;
  });
}

describe.each(['seed', 'torchvision', 'bvlc'] as const)('the %s GoogLeNet as exported', (layout) => {
  const graph = importOnnx(readFixture(GOOGLENET_FIXTURES[layout]));
  const inputs = graph.inputs.map(({ name }) => name);

  it('is reordered so that each Inception block\'s three input 1×1 convolutions form one group', () => {
    const ordered = groupPointwiseSiblings(graph.nodes);
    expect(isTopological(graph.nodes, inputs)).toBe(true);
    expect(isTopological(ordered, inputs)).toBe(true);
    expect([...ordered].sort((a, b) => a.name.localeCompare(b.name))).toEqual([...graph.nodes].sort((a, b) => a.name.localeCompare(b.name)));
    // The exporters put each block's 1×1 → 3×3 branch between its other 1×1 convolutions.
    expect(pointwiseGroups(graph.nodes).map((members) => members.length)).toEqual(new Array(9).fill(2));
    const groups = pointwiseGroups(ordered);
    expect(groups.map((members) => members.length)).toEqual(new Array(9).fill(3));
    for (const members of groups) expect(new Set(members.map((member) => member.inputs[0])).size).toBe(1);
  });

  it('runs the groups as one and shares their profiled time by MACs', async () => {
    const model = await loadModel(graph, { variant: 'simd' });
    const grouped = model.info.layers.filter((layer) => layer.pointwiseGroup);
    expect(grouped).toHaveLength(27);
    const { layers } = model.profile(2);
    for (const leader of new Set(grouped.map((layer) => layer.pointwiseGroup))) {
      const members = layers.filter((_, i) => model.info.layers[i].pointwiseGroup === leader);
      const rates = members.map(({ ms, macs }) => macs / ms);
      expect(members[0].ms).toBeGreaterThan(0);
      for (const rate of rates) expect(rate).toBeCloseTo(rates[0], 6);
    }
    model.dispose();
  });
});
