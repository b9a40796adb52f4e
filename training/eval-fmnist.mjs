#!/usr/bin/env node
// npm run eval:fmnist: accuracy of a model on the 10,000 Fashion-MNIST test images in this runtime (dist/), in f32
// and in int8. Each image goes through the user's path: 28×28 gray pixels → model.classify() (the file's
// preprocessing) → top-1. Prints the accuracy, per-class accuracy and the confusion matrices as Markdown;
// --update-card writes them into models/MODEL_CARD.md between its eval-fmnist markers.
//
// Options: --model FILE (default: the package's default model), --limit N (the first N images, for a quick
// check; not with --update-card), --variant V, --data DIR (default /usr/share/datasets/fashion-mnist).

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModel } from '../dist/hosts/node.js';
import { FASHION_MNIST_DIR, readFashionMnist } from './fashion-mnist-idx.mjs';

const DEFAULT_MODEL = fileURLToPath(new URL('../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url));
const CARD = new URL('../models/MODEL_CARD.md', import.meta.url);
const CARD_SECTION = /(<!-- eval-fmnist:begin -->\n)[^]*(<!-- eval-fmnist:end -->)/;
const PRECISIONS = ['f32', 'int8'];

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: DEFAULT_MODEL },
    limit: { type: 'string' },
    variant: { type: 'string' },
    data: { type: 'string', default: FASHION_MNIST_DIR },
    'update-card': { type: 'boolean' },
  },
});
if (values.limit && values['update-card']) throw new Error('--update-card needs the whole test set, not --limit');

const modelBytes = new Uint8Array(await readFile(values.model));
const test = await readFashionMnist('t10k', values.data);
const count = Math.min(test.count, Number(values.limit ?? test.count));
const pixels = test.rows * test.cols;

const results = [];
for (const precision of PRECISIONS) {
  const model = await loadModel(modelBytes, { precision, variant: values.variant });
  const started = performance.now();
  const predicted = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const image = { data: test.images.subarray(i * pixels, (i + 1) * pixels), width: test.cols, height: test.rows, channels: 1 };
    predicted[i] = model.classify(image, { topK: 1 })[0].index;
    if (process.stderr.isTTY && i % 200 === 0) process.stderr.write(`\r${precision}: ${i}/${count}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const classes = model.info.outputs[0].dims.at(-1);
  const labels = model.metadata?.labels ?? Array.from({ length: classes }, (_, i) => `class ${i}`);
  results.push({ precision, predicted, labels, variant: model.info.variant, seconds: (performance.now() - started) / 1000 });
}

const report = formatReport(results);
console.log(report);
if (values['update-card']) {
  const card = await readFile(CARD, 'utf8');
  if (!CARD_SECTION.test(card)) throw new Error(`${fileURLToPath(CARD)} has no eval-fmnist markers`);
  await writeFile(CARD, card.replace(CARD_SECTION, (_, begin, end) => `${begin}${report}\n${end}`));
  console.error(`updated ${fileURLToPath(CARD)}`);
}

function formatReport(runs) {
  const truth = test.labels.subarray(0, count);
  const classes = runs[0].labels;
  const correct = (run) => run.predicted.filter((label, i) => label === truth[i]).length;
  const percent = (part, whole) => (whole ? `${((100 * part) / whole).toFixed(2)} %` : '–');
  const agreement = runs[0].predicted.filter((label, i) => label === runs[1].predicted[i]).length;
  const sha256 = createHash('sha256').update(modelBytes).digest('hex');
  const lines = [
    `${count} Fashion-MNIST test images, ${new Date().toISOString().slice(0, 10)}, \`${basename(values.model)}\` ` +
      `(${modelBytes.length} bytes, sha256 ${sha256.slice(0, 16)}…), kernel build ${runs[0].variant}, Node ${process.version}.`,
    '',
    '| precision | accuracy | seconds |',
    '|---|---:|---:|',
    ...runs.map((run) => `| ${run.precision} | ${percent(correct(run), count)} | ${run.seconds.toFixed(1)} |`),
    '',
    `f32 and int8 agree on ${percent(agreement, count)} of the images.`,
    '',
    `| class | images | ${runs.map((run) => `${run.precision} accuracy`).join(' | ')} |`,
    `|---|---:|${runs.map(() => '---:').join('|')}|`,
    ...classes.map((label, c) => {
      const members = truth.filter((t) => t === c).length;
      const hits = runs.map((run) => percent(run.predicted.filter((p, i) => p === c && truth[i] === c).length, members));
      return `| ${label} | ${members} | ${hits.join(' | ')} |`;
    }),
  ];
  for (const run of runs) {
    const matrix = classes.map(() => new Array(classes.length).fill(0));
    run.predicted.forEach((label, i) => matrix[truth[i]][label]++);
    lines.push(
      '',
      `Confusion matrix, ${run.precision} (rows: true class, columns: predicted class, in label order):`,
      '',
      `| true \\ predicted | ${classes.map((_, c) => c).join(' | ')} |`,
      `|---|${classes.map(() => '---:').join('|')}|`,
      ...matrix.map((row, c) => `| ${c} ${classes[c]} | ${row.join(' | ')} |`),
    );
  }
  return lines.join('\n');
}
