/**
 * The shipped code (src/) never turns data into code: no eval, no Function constructor, no string timers, no
 * dynamic import of a computed specifier, no script or HTML injection. Model metadata (labels) stays data.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url).pathname;

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Comments removed, so that prose about these things does not count. */
const code = (path: string) => readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

const DYNAMIC_CODE: [string, RegExp][] = [
  ['eval', /\beval\s*\(/],
  ['the Function constructor', /\bFunction\s*\(/],
  ['a string passed to setTimeout/setInterval', /\bset(Timeout|Interval)\s*\(\s*['"`]/],
  ['import() of a computed specifier', /\bimport\s*\(\s*[^'"`\s)]/],
  ['innerHTML / outerHTML / insertAdjacentHTML / document.write', /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write)\b/],
  ['new WebAssembly.Function or compiling JavaScript from strings', /\bWebAssembly\.Function\b|\bnew\s+Worker\s*\(\s*['"`]data:/],
];

describe('no dynamic code in src/', () => {
  const files = sourceFiles(SRC);

  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(DYNAMIC_CODE)('no %s', (_, pattern) => {
    const hits = files.filter((file) => pattern.test(code(file))).map((file) => file.slice(SRC.length));
    expect(hits).toEqual([]);
  });

  it('the scan does catch each pattern', () => {
    const samples = ['eval(x)', 'new Function("a", b)', "setTimeout('x()', 1)", 'import(name)', 'el.innerHTML = label', 'new WebAssembly.Function(t, f)'];
    DYNAMIC_CODE.forEach(([, pattern], i) => expect(pattern.test(samples[i])).toBe(true));
  });
});
