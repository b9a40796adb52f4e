// An SVG bar chart of the first graph's medians (GoogLeNet 224²): per runtime and precision, our fastest build
// and the same on more threads, beside onnxruntime-web and, for f32, TensorFlow.js. Written by bench/report.js as bench/chart.svg.

const COLORS = { ours: '#2f7d4f', 'ours threaded': '#7fbf95', 'onnxruntime-web': '#6b7fa8', 'TF.js': '#c08a3e' };
const BAR = 18, GAP = 6, GROUP_GAP = 14, LEFT = 150, WIDTH = 720, TOP = 40;

const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** The bars of one runtime's graph: our fastest row and the peers, for f32 and int8 (per-inference). */
function groupsOf(run, index) {
  const rows = run.graphs[index].rows.filter((row) => !row.note);
  return ['f32', 'int8'].flatMap((precision) => {
    const ours = rows.filter((row) => row.precision === precision).sort((a, b) => a.ms - b.ms)[0];
    if (!ours) return [];
    const bars = [{ who: 'ours', label: `ours (${ours.variant})`, ms: ours.ms }];
    const threaded = run.graphs[index].threadRows?.find((row) => row.precision === precision);
    if (threaded) bars.push({ who: 'ours threaded', label: `ours (${threaded.threads} threads)`, ms: threaded.ms });
    bars.push({ who: 'onnxruntime-web', label: precision === 'int8' ? 'onnxruntime-web (QDQ)' : 'onnxruntime-web', ms: ours.peerMs });
    if (ours.tfjs?.ms) bars.push({ who: 'TF.js', label: 'TF.js (XNNPACK)', ms: ours.tfjs.ms });
    return [{ title: `${run.runtime} ${run.version}, ${precision}`, bars }];
  });
}

export function chartSvg(measured, index = 0) {
  const { title } = measured[0].graphs[index];
  const groups = measured.flatMap((run) => groupsOf(run, index));
  const longest = Math.max(...groups.flatMap(({ bars }) => bars.map(({ ms }) => ms)));
  const scale = (WIDTH - LEFT - 90) / longest;
  const parts = [];
  let y = TOP;
  for (const { title: groupTitle, bars } of groups) {
    parts.push(`<text x="8" y="${y + 13}" font-weight="bold">${escape(groupTitle)}</text>`);
    y += BAR + GAP;
    for (const { who, label, ms } of bars) {
      parts.push(
        `<text x="${LEFT - 6}" y="${y + 13}" text-anchor="end">${escape(label)}</text>`,
        `<rect x="${LEFT}" y="${y}" width="${(ms * scale).toFixed(1)}" height="${BAR}" fill="${COLORS[who]}"/>`,
        `<text x="${(LEFT + ms * scale + 6).toFixed(1)}" y="${y + 13}">${ms.toFixed(1)} ms</text>`,
      );
      y += BAR + GAP;
    }
    y += GROUP_GAP;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="8" y="22" font-size="14" font-weight="bold">${escape(title)}: median ms per inference, 1 thread unless marked (lower is better)</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
