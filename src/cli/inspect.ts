import type { ModelFileMetadata } from '../format/model-file.js';
import type { LayerTiming, ModelInfo } from '../runtime/model.js';

const formatCount = (n: number) => n.toLocaleString('en-US');
export const formatBytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

/** The human-readable `inspect` report: one row per layer, then totals and the memory plan. */
export function formatInspect(info: ModelInfo): string {
  const header = ['layer', 'op', 'output shape', 'params', 'MACs', 'arena offset'];
  const rows = info.layers.map((layer) => [
    layer.name, layer.op, `[${layer.outputDims.join(', ')}]`,
    formatCount(layer.params), formatCount(layer.macs), formatCount(layer.arenaOffset),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column >= 3 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ');
  const describeTensors = (tensors: ModelInfo['inputs']) => tensors.map((t) => `${t.name} [${t.dims.join(', ')}]`).join(', ');
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `inputs:        ${describeTensors(info.inputs)}`,
    `outputs:       ${describeTensors(info.outputs)}`,
    `layers:        ${info.layers.length}`,
    `parameters:    ${formatCount(info.params)}`,
    `MACs:          ${formatCount(info.macs)} (${(info.macs / 1e6).toFixed(1)} M)`,
    `arena:         ${formatBytes(info.arenaBytes)} (${formatCount(info.arenaBytes)} bytes)`,
    `weights:       ${formatBytes(info.weightBytes)} packed`,
    `scratch:       ${formatBytes(info.scratchBytes)}`,
    `wasm memory:   ${formatBytes(info.memoryBytes)}`,
    `kernel build:  ${info.variant}${info.threads > 1 ? `, ${info.threads} threads` : ''}`,
    `precision:     ${info.precision}${info.quantisedTensors ? `, ${info.quantisedTensors} activation tensors kept as 8-bit (calibrated)` : ''}`,
  ].join('\n');
}

/** The `inspect --profile` table: layers slowest first, with their speed and share of the whole inference. */
export function formatProfile({ totalMs, layers }: { totalMs: number; layers: LayerTiming[] }, info: ModelInfo): string {
  const layerSum = layers.reduce((sum, layer) => sum + layer.ms, 0);
  const header = ['layer', 'op', 'ms', 'GMAC/s', 'share'];
  const rows = [...layers].sort((a, b) => b.ms - a.ms).map((layer) => [
    layer.name, layer.op, layer.ms.toFixed(3), layer.macs ? (layer.macs / layer.ms / 1e6).toFixed(1) : '',
    `${((100 * layer.ms) / layerSum).toFixed(1)} %`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column >= 2 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ');
  return [
    `profile (${info.precision}, ${info.variant} build, ${info.threads} thread${info.threads > 1 ? 's' : ''}): median ${totalMs.toFixed(2)} ms per inference, ` +
      `${(info.macs / totalMs / 1e6).toFixed(1)} GMAC/s; the layers, timed one by one, sum to ${layerSum.toFixed(2)} ms`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

const SHOWN_LABELS = 5;

/** What a model file carries besides the graph, for `inspect` to show above the layer table. */
export function formatModelFileSummary(metadata: ModelFileMetadata, fileBytes: number): string {
  const { labels, preprocess: p, activationRanges } = metadata;
  const list = (values: number[]) => `[${values.map((value) => +value.toPrecision(6)).join(', ')}]`;
  const shownLabels = labels?.slice(0, SHOWN_LABELS).map((label) => JSON.stringify(label)).join(', ');
  const crop = p.resize.crop === 'none'
    ? `straight to ${p.inputSize.join('x')}`
    : `shorter side to ${p.resize.shorterSide ?? Math.max(...p.inputSize)}, center crop ${p.inputSize.join('x')}`;
  const calibrated = activationRanges ? Object.keys(activationRanges).length : 0;
  return [
    `model file:    ${formatBytes(fileBytes)} (${formatCount(fileBytes)} bytes), format version ${metadata.formatVersion}`,
    `weights:       ${metadata.weights}`,
    `labels:        ${labels ? `${labels.length}: ${shownLabels}${labels.length > SHOWN_LABELS ? ', …' : ''}` : 'none'}`,
    `channels:      ${p.channels}, pixels × ${+p.scale.toPrecision(6)}, mean ${list(p.mean)}, std ${list(p.std)}`,
    `resize:        ${p.resize.method}, ${crop}`,
    `calibration:   ${calibrated ? `[min, max] of ${calibrated} activation tensors` : 'none'}`,
  ].join('\n');
}
