/** The sample images in examples/images/, each with the label its file name (`<index>-<label slug>.png`) gives. */

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_LABELS } from './image-files.js';

export interface Sample {
  /** The path relative to the repository root, e.g. examples/images/7-sneaker.png. */
  file: string;
  path: string;
  bytes: Uint8Array;
  label: string;
}

const SAMPLE_DIR = new URL('../../examples/images/', import.meta.url);

/** As examples/make_sample_images.mjs names the files: "T-shirt/top" → "tshirt-top". */
const slugOf = (label: string) => label.toLowerCase().replaceAll('-', '').replace(/[^a-z0-9]+/g, '-');

export const SAMPLES: Sample[] = readdirSync(SAMPLE_DIR).filter((name) => name.endsWith('.png')).sort().map((name) => {
  const slug = /^\d+-(.+)\.png$/.exec(name)?.[1];
  const label = FASHION_MNIST_LABELS.find((candidate) => slugOf(candidate) === slug);
  if (!label) throw new Error(`examples/images/${name} does not name a Fashion-MNIST class`);
  const path = fileURLToPath(new URL(name, SAMPLE_DIR));
  return { file: `examples/images/${name}`, path, bytes: new Uint8Array(readFileSync(path)), label };
});
