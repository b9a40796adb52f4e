#!/usr/bin/env node
// Writes examples/images/<class>-<label>.png: the first Fashion-MNIST test image of each class, 28×28 gray.
// Needs Debian's dataset-fashion-mnist. Usage: node examples/make_sample_images.mjs

import { readFile, writeFile } from 'node:fs/promises';
import { encode } from 'fast-png';
import { readFashionMnist } from '../training/fashion-mnist-idx.mjs';

const labels = (await readFile(new URL('../models/fashion-mnist-labels.txt', import.meta.url), 'utf8')).trim().split('\n');
const { images, labels: classes, rows, cols } = await readFashionMnist('t10k');
const size = rows * cols;

for (const [index, label] of labels.entries()) {
  const first = classes.indexOf(index);
  const data = images.slice(first * size, (first + 1) * size);
  // "T-shirt/top" → "tshirt-top", "Ankle boot" → "ankle-boot"
  const slug = label.toLowerCase().replaceAll('-', '').replace(/[^a-z0-9]+/g, '-');
  const name = `images/${index}-${slug}.png`;
  await writeFile(new URL(name, import.meta.url), encode({ width: cols, height: rows, data, channels: 1, depth: 8 }));
  console.log(`examples/${name}: test image ${first}`);
}
