/**
 * The package's entry points per host. The runtime path — everything the universal entry (src/index.ts) and the
 * Workers and Deno entries import — must use web-standard APIs only: no `node:` modules, no Buffer or process.
 * Each `exports` condition must resolve, with types, to its host's entry, and Node, Deno and Bun must load the
 * default model through the package name.
 */

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GoogLeNetError } from '../src/errors.js';
import { configureHost, host } from '../src/runtime/host.js';
import { loadModel } from '../src/runtime/load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const NODE_ONLY_GLOBALS = ['Buffer', 'process', 'require', '__dirname', '__filename', 'setImmediate'];
const HOST_GLOBALS = ['Deno', 'Bun'];

interface Violation {
  file: string;
  what: string;
}

interface Scan {
  files: string[];
  packages: string[];
  violations: Violation[];
}

/**
 * Follows the relative imports from `entry` through src/ and reports every Node built-in imported and every
 * Node-only (or other host's) global used. `allowedGlobals` are allowed in the entry file itself, `allowedModules`
 * anywhere.
 */
function scanImportGraph(entry: string, allowedGlobals: string[] = [], allowedModules: string[] = []): Scan {
  const files = new Set<string>();
  const packages = new Set<string>();
  const violations: Violation[] = [];
  const queue = [resolve(ROOT, entry)];
  while (queue.length) {
    const path = queue.shift()!;
    if (files.has(path)) continue;
    files.add(path);
    const file = relative(ROOT, path);
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
    const allowed = path === resolve(ROOT, entry) ? allowedGlobals : [];
    const visit = (node: ts.Node): void => {
      const specifier = moduleSpecifier(node);
      if (specifier !== undefined) {
        if (specifier.startsWith('node:') || builtinModules.includes(specifier)) {
          if (!allowedModules.includes(specifier)) violations.push({ file, what: `imports ${specifier}` });
        } else if (specifier.startsWith('.')) {
          if (!specifier.endsWith('.wasm')) queue.push(resolve(dirname(path), specifier.replace(/\.js$/, '.ts')));
        } else {
          packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
        }
      }
      if (ts.isIdentifier(node) && isFreeReference(node)) {
        const name = node.text;
        if ([...NODE_ONLY_GLOBALS, ...HOST_GLOBALS].includes(name) && !allowed.includes(name)) {
          violations.push({ file, what: `uses ${name} (line ${source.getLineAndCharacterOfPosition(node.getStart()).line + 1})` });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { files: [...files].map((path) => relative(ROOT, path)), packages: [...packages], violations };
}

/** The module named by an import, an export … from, or a dynamic import(). */
function moduleSpecifier(node: ts.Node): string | undefined {
  if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
    return node.moduleSpecifier.text;
  }
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
    const [argument] = node.arguments;
    return argument && ts.isStringLiteralLike(argument) ? argument.text : '<computed import()>';
  }
  return undefined;
}

/** An identifier that refers to a variable, not the name of a property, member or declaration. */
function isFreeReference(node: ts.Identifier): boolean {
  const parent = node.parent as ts.Node & { name?: ts.Node; propertyName?: ts.Node };
  if (parent.name === node || parent.propertyName === node) return false;
  return !ts.isQualifiedName(parent) || parent.left === node;
}

describe('the runtime path uses web-standard APIs only', () => {
  const entries = [
    { entry: 'src/index.ts' },
    { entry: 'src/hosts/workerd.ts' },
    { entry: 'src/hosts/browser.ts' },
    // Deno's threads are node:worker_threads, which Deno provides: unlike its web Workers they can be unref'd, so
    // that a thread idling in Atomics.wait does not keep the process alive.
    { entry: 'src/hosts/deno.ts', allowedGlobals: ['Deno'], allowedModules: ['node:worker_threads'] },
  ];

  it.each(entries)('$entry imports no Node module and uses no Node global', ({ entry, allowedGlobals, allowedModules }) => {
    const { files, packages, violations } = scanImportGraph(entry, allowedGlobals, allowedModules);
    expect(violations).toEqual([]);
    // The scan reaches the whole runtime: loading, kernels, model files, images and the HTTP handler.
    expect(files).toEqual(expect.arrayContaining([
      'src/runtime/load.ts', 'src/runtime/kernels.ts', 'src/runtime/package-files.ts', 'src/format/model-file.ts',
      'src/image/decode.ts', 'src/serve/handler.ts',
    ]));
    expect(files.filter((file) => file.startsWith('src/cli/'))).toEqual([]);
    // Third-party code on the path is a runtime dependency (the Workers test runs it in workerd).
    for (const name of packages) expect(Object.keys(PACKAGE.dependencies), name).toContain(name);
  });

  it('catches Node-only code: the Node entry and the CLI are flagged', () => {
    expect(scanImportGraph('src/hosts/node.ts').violations).toContainEqual({ file: 'src/hosts/node-host.ts', what: 'imports node:fs/promises' });
    const cli = scanImportGraph('src/cli/main.ts').violations;
    expect(cli).toContainEqual({ file: 'src/cli/files.ts', what: 'imports node:fs/promises' });
    expect(cli.some(({ file, what }) => file === 'src/cli/main.ts' && what.startsWith('uses process'))).toBe(true);
  });
});

describe('package exports', () => {
  const conditions: Record<string, string> = {
    workerd: 'hosts/workerd', deno: 'hosts/deno', bun: 'hosts/node', browser: 'hosts/browser', node: 'hosts/node', default: 'index',
  };

  it('maps each host condition, in this order, to its entry and its types', () => {
    const main = PACKAGE.exports['.'];
    expect(Object.keys(main)).toEqual(Object.keys(conditions));
    for (const [condition, entry] of Object.entries(conditions)) {
      expect(main[condition], condition).toEqual({ types: `./dist/${entry}.d.ts`, default: `./dist/${entry}.js` });
      expect(existsSync(join(ROOT, `dist/${entry}.js`)) && existsSync(join(ROOT, `dist/${entry}.d.ts`)), condition).toBe(true);
    }
  });

  // Each host imports the package by name (a self-reference from the checkout); where the host can read the
  // package's files, it loads the default model, which needs that host's file reader.
  const resolveEntry = "console.log(JSON.stringify({ entry: import.meta.resolve('googlenet-wasm') }));";
  const loadDefaultModel = [
    "const { loadModel } = await import('googlenet-wasm');",
    'const { info } = await loadModel();',
    "console.log(JSON.stringify({ entry: import.meta.resolve('googlenet-wasm'), precision: info.precision }));",
  ].join(' ');
  const hosts = [
    { host: 'node', command: 'node', args: ['--input-type=module', '-e', loadDefaultModel], entry: 'hosts/node.js' },
    { host: 'deno', command: 'npx', args: ['deno', 'eval', '--quiet', loadDefaultModel], entry: 'hosts/deno.js' },
    { host: 'bun', command: 'npx', args: ['bun', '--eval', loadDefaultModel], entry: 'hosts/node.js' },
    { host: 'a bundler for browsers', command: 'node', args: ['--conditions=browser', '--input-type=module', '-e', resolveEntry], entry: 'hosts/browser.js' },
  ];

  it.each(hosts)('$host resolves the package to dist/$entry', async ({ command, args, entry }) => {
    const { stdout } = await promisify(execFile)(command, args, { cwd: ROOT });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(result.entry).toBe(`file://${join(ROOT, 'dist', entry)}`);
    if (args.includes(loadDefaultModel)) expect(result.precision).toBe('int8');
  });
});

describe('loadModel sources', () => {
  const MODEL_PATH = 'models/googlenet-seed-fmnist.int8.safetensors';
  const modelBytes = readFileSync(join(ROOT, MODEL_PATH));
  let server: Server;
  let origin: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/model.safetensors') response.end(modelBytes);
      else response.writeHead(404).end();
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((closed) => server.close(closed)));

  it('reads a path, a file: URL and an http: URL to the same model', async () => {
    const sources = [join(ROOT, MODEL_PATH), new URL(`file://${join(ROOT, MODEL_PATH)}`), new URL(`${origin}/model.safetensors`)];
    for (const source of sources) {
      const model = await loadModel(source);
      expect(model.metadata?.labels?.[7], String(source)).toBe('Sneaker');
      model.dispose();
    }
  });

  it('gives back the memory of a file it read once the model holds its weights, and leaves bytes it was given alone', async () => {
    const nodeHost = host();
    const modelReads: Uint8Array[] = [];
    configureHost({
      ...nodeHost,
      readLocalFile: async (file, maxBytes) => {
        const bytes = await nodeHost.readLocalFile!(file, maxBytes);
        if (String(file).endsWith(MODEL_PATH)) modelReads.push(bytes);
        return bytes;
      },
    });
    try {
      const fromPath = await loadModel(join(ROOT, MODEL_PATH));
      expect(modelReads).toHaveLength(1);
      expect(modelReads[0].buffer.byteLength).toBe(0);

      const given = await nodeHost.readLocalFile!(join(ROOT, MODEL_PATH), Infinity); // releasable, but the caller's
      const fromBytes = await loadModel(given);
      expect(given.buffer.byteLength).toBe(given.length);
      const dims = fromPath.info.inputs[0].dims;
      const input = Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => (i % 17) / 17);
      expect(fromPath.run(input, dims).data).toEqual(fromBytes.run(input, dims).data);
    } finally {
      configureHost(nodeHost);
    }
  });

  it.each(['deno', 'bun'])('in %s too, gives back the memory of a model file it read by path once the model is built', async (runtime) => {
    const args = runtime === 'deno' ? ['run', '--allow-read', 'test/support/release-probe.js'] : ['test/support/release-probe.js'];
    const { stdout } = await promisify(execFile)(join(ROOT, `node_modules/.bin/${runtime}`), args, { cwd: ROOT });
    expect(JSON.parse(stdout)).toEqual({ label: 'Sneaker', released: true });
  });

  it('reads a file that reports no size (as /proc\'s do) to its end', async () => {
    const status = new TextDecoder().decode(await host().readLocalFile!('/proc/self/status', 1e6));
    expect(status).toMatch(/^Name:/);
  });

  it('names a file it cannot read or fetch', async () => {
    await expect(loadModel('no/such/model.onnx')).rejects.toThrow(new GoogLeNetError('cannot read no/such/model.onnx: no such file'));
    await expect(loadModel(new URL(`${origin}/missing.onnx`))).rejects.toThrow(
      new GoogLeNetError(`cannot fetch ${origin}/missing.onnx: HTTP 404`),
    );
  });

  it('without a file system (browsers, Workers) a path is an error that says what to pass instead', async () => {
    const nodeHost = host();
    configureHost({});
    try {
      await expect(loadModel(MODEL_PATH)).rejects.toThrow(
        new GoogLeNetError(`cannot read "${MODEL_PATH}": this host has no file system; pass the model's bytes or a URL`),
      );
    } finally {
      configureHost(nodeHost);
    }
  });
});
