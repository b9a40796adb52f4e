/** `googlenet classify` through the built CLI in a child process. */

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLASSIFY_HELP } from '../src/cli/classify.js';
import { loadModel } from '../src/runtime/load.js';
import { googlenet } from './support/cli.js';
import { FASHION_MNIST_LABELS, seededBytes, seedModelFile } from './support/image-files.js';

const work = mkdtempSync(join(tmpdir(), 'googlenet-classify-'));
const at = (name: string) => join(work, name);
const sample = (name: string) => new URL(`../examples/images/${name}`, import.meta.url).pathname;

interface Prediction {
  label: string;
  index: number;
  probability: number;
}

describe('googlenet classify', () => {
  const model = at('seed.safetensors');
  const [boot, trouser, photo] = [sample('9-ankle-boot.png'), sample('1-trouser.png'), at('photo.jpg')];

  beforeAll(() => {
    writeFileSync(model, seedModelFile());
    const rgba = seededBytes(40 * 30 * 4, 8);
    writeFileSync(photo, jpeg.encode({ data: rgba, width: 40, height: 30 }, 90).data);
    copyFileSync(boot, at('copy of boot.png'));
  });

  it('--json prints one array, an object per image in argument order', async () => {
    const files = [photo, boot, trouser, at('copy of boot.png')];
    const { code, stdout, stderr } = await googlenet('classify', ...files, '--model', model, '--top', '3', '--json');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const results = JSON.parse(stdout) as { file: string; predictions: Prediction[] }[];
    expect(results.map(({ file }) => file)).toEqual(files);
    for (const { predictions } of results) {
      expect(predictions).toHaveLength(3);
      expect(Object.keys(predictions[0])).toEqual(['label', 'index', 'probability']);
      expect(predictions.map(({ label, index }) => label === FASHION_MNIST_LABELS[index])).toEqual([true, true, true]);
      expect(predictions[0].probability).toBeGreaterThanOrEqual(predictions[2].probability);
    }
    expect(results[3].predictions).toEqual(results[1].predictions);
  });

  it('prints a table per image: label, percentage and a bar', async () => {
    const { code, stdout } = await googlenet('classify', boot, photo, '--model', model);
    expect(code).toBe(0);
    const json = await googlenet('classify', boot, photo, '--model', model, '--json');
    const results = JSON.parse(json.stdout) as { file: string; predictions: Prediction[] }[];
    const blocks = stdout.trimEnd().split('\n\n');
    expect(blocks).toHaveLength(2);
    blocks.forEach((block, i) => {
      const [file, ...lines] = block.split('\n');
      expect(file).toBe(results[i].file);
      const width = Math.max(...results[i].predictions.map(({ label }) => label.length));
      expect(lines).toEqual(results[i].predictions.map(({ label, probability }) =>
        `  ${label.padEnd(width)}  ${`${(probability * 100).toFixed(1)}%`.padStart(6)}  ${'█'.repeat(Math.round(probability * 20))}`.trimEnd()));
    });
  });

  it('a bad image gets one line on stderr and exit code 1; the other images are still classified', async () => {
    const text = at('notes.png');
    writeFileSync(text, 'not really a PNG');
    const missing = at('missing.jpg');
    const { code, stdout, stderr } = await googlenet('classify', boot, text, missing, trouser, '--model', model, '--json');
    expect(code).toBe(1);
    expect(stderr).toBe(
      `googlenet: ${text}: not a PNG or JPEG image (it starts with 6e 6f 74 20 72 65 61 6c)\n` +
        `googlenet: cannot read ${missing}: no such file\n`,
    );
    const results = JSON.parse(stdout) as { file: string; predictions?: Prediction[]; error?: string }[];
    expect(results.map(({ file }) => file)).toEqual([boot, text, missing, trouser]);
    expect(results[1]).toEqual({ file: text, error: `${text}: not a PNG or JPEG image (it starts with 6e 6f 74 20 72 65 61 6c)` });
    expect(results[3].predictions).toHaveLength(5);

    const table = await googlenet('classify', text, boot, '--model', model);
    expect(table.code).toBe(1);
    expect(table.stdout.startsWith(`${boot}\n`)).toBe(true);
  });

  it('--help describes the command', async () => {
    expect(await googlenet('classify', '--help')).toEqual({ code: 0, stdout: `${CLASSIFY_HELP}\n`, stderr: '' });
    const { stdout } = await googlenet('--help');
    expect(stdout).toContain('googlenet classify IMAGE… [--model FILE] [--top K]');
  });

  it.each([
    [['--model', 'x.onnx'], 'classify needs at least one image'],
    [['a.png', '--top', '0'], '--top must be a positive integer, not "0"'],
    [['a.png', '--top', 'many'], '--top must be a positive integer, not "many"'],
    [['a.png', '--precision', 'f64'], '--precision must be one of auto, f32, int8'],
  ])('usage errors: %j', async (args, message) => {
    expect(await googlenet('classify', ...args)).toEqual({
      code: 1, stdout: '', stderr: `googlenet: ${message} (see googlenet --help)\n`,
    });
  });

  it('without --model uses the embedded default model', async () => {
    const { code, stdout } = await googlenet('classify', boot, trouser, '--json', '--top', '1');
    expect(code).toBe(0);
    const results = JSON.parse(stdout) as { file: string; predictions: Prediction[] }[];
    expect(results.map(({ predictions }) => predictions[0].label)).toEqual(['Ankle boot', 'Trouser']);
  });


  it('decodes photos larger than the library default allows (a 2.9-megapixel 4:4:4 JPEG)', async () => {
    const [width, height] = [1700, 1700];
    const large = at('large.jpg');
    // jpeg-js writes 4:4:4, which it decodes with about 36 bytes per pixel: ~100 MiB, over the 64 MiB default.
    writeFileSync(large, jpeg.encode({ data: seededBytes(width * height * 4, 9), width, height }, 50).data);
    const { code, stdout, stderr } = await googlenet('classify', large, '--model', model, '--top', '1', '--json');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)[0].predictions).toHaveLength(1);
    const library = await loadModel(seedModelFile(), { variant: 'simd' });
    expect(() => library.classify(new Uint8Array(readFileSync(large)))).toThrow(/limits.maxMemoryBytes/);
  });
});
