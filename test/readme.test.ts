/** The README's first commands work as written, in the checkout, with nothing but `npm ci` before them. */

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

it("the set-up section's classify command names the sample's class with the embedded model", async () => {
  const setup = readme.slice(readme.indexOf('## Set up and run'));
  const command = /^npx (googlenet classify \S+)/m.exec(setup)?.[1];
  expect(command).toBe('googlenet classify examples/images/7-sneaker.png');
  const { stdout } = await promisify(execFile)('npx', command!.split(' '), { cwd: root });
  const [file, firstPrediction] = stdout.split('\n');
  expect(file).toBe('examples/images/7-sneaker.png');
  expect(firstPrediction).toMatch(/^\s+Sneaker\s+\d+\.\d%\s+█+$/);
});
