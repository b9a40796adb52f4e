/**
 * Runs a Worker example in workerd as `wrangler deploy` would ship it: its wrangler.toml's `main` bundled with
 * the `workerd` export conditions, every import that a [[rules]] entry matches left out of the bundle as a module
 * of that rule's type (CompiledWasm, Data), then all of it handed to miniflare's workerd.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { build, type Rollup } from 'vite';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE_NAME = 'googlenet-wasm';
/** The conditions wrangler resolves package exports with. */
const WORKER_CONDITIONS = ['workerd', 'worker', 'browser'];

type ModuleType = 'CompiledWasm' | 'Data' | 'Text';
type TomlValue = string | boolean | string[];
type TomlTable = Record<string, TomlValue>;

export interface WranglerConfig {
  main: string;
  compatibilityDate: string;
  rules: { type: ModuleType; suffixes: string[] }[];
  /** The bindings of [[r2_buckets]]. */
  r2Buckets: string[];
  vars: Record<string, string>;
}

/** The fields of a wrangler config file that running it locally needs. */
export function readWranglerConfig(dir: string, file = 'wrangler.toml'): WranglerConfig {
  const { top, tables, arrays } = parseToml(readFileSync(join(dir, file), 'utf8'));
  const rules = (arrays.rules ?? []).map((rule) => ({
    type: rule.type as ModuleType,
    suffixes: (rule.globs as string[]).map((glob) => {
      const suffix = /^\*\*\/\*(\.[\w.]+)$/.exec(glob)?.[1];
      if (!suffix) throw new Error(`${file}: only globs like "**/*.ext" are understood here, not "${glob}"`);
      return suffix;
    }),
  }));
  return {
    main: top.main as string,
    compatibilityDate: top.compatibility_date as string,
    rules,
    r2Buckets: (arrays.r2_buckets ?? []).map(({ binding }) => binding as string),
    vars: (tables.vars ?? {}) as Record<string, string>,
  };
}

/**
 * The TOML that wrangler configs use here: `key = value` lines (double-quoted strings, booleans, arrays of strings,
 * all also valid JSON) at the top, under `[table]` headers and under `[[array]]` headers; `#` comment lines.
 */
function parseToml(text: string) {
  const top: TomlTable = {};
  const tables: Record<string, TomlTable> = {};
  const arrays: Record<string, TomlTable[]> = {};
  let current = top;
  for (const line of text.split('\n').map((raw) => raw.trim())) {
    if (!line || line.startsWith('#')) continue;
    const header = /^(\[\[?)([\w.]+)\]\]?$/.exec(line);
    if (header) {
      current = {};
      if (header[1] === '[[') (arrays[header[2]] ??= []).push(current);
      else tables[header[2]] = current;
      continue;
    }
    const pair = /^([\w-]+)\s*=\s*(.+)$/.exec(line);
    if (!pair) throw new Error(`cannot read the TOML line "${line}"`);
    current[pair[1]] = JSON.parse(pair[2]) as TomlValue;
  }
  return { top, tables, arrays };
}

export interface WorkerModule {
  /** The module's name in the Worker, as the bundle imports it. */
  name: string;
  type: 'ESModule' | ModuleType;
  contents: Uint8Array;
}

/** The bundled Worker: its script first, then the modules the rules kept out of it. */
export async function bundleWorker(dir: string, config: WranglerConfig): Promise<WorkerModule[]> {
  const external = new Map<string, WorkerModule>();
  const output = (await build({
    configFile: false,
    logLevel: 'silent',
    root: dir,
    ssr: { noExternal: true, target: 'webworker', resolve: { conditions: WORKER_CONDITIONS } },
    build: { ssr: join(dir, config.main), write: false, minify: false, rollupOptions: { output: { codeSplitting: false } } },
    plugins: [{
      name: 'worker-module-rules',
      enforce: 'pre',
      async resolveId(source, importer) {
        // The example depends on this package; in the checkout it resolves to the checkout itself.
        const ownPackage = source === PACKAGE_NAME || source.startsWith(`${PACKAGE_NAME}/`);
        const resolved = ownPackage ? await this.resolve(source, join(ROOT, 'package.json'), { skipSelf: true }) : null;
        const rule = config.rules.find(({ suffixes }) => suffixes.some((suffix) => source.endsWith(suffix)));
        if (!rule) return resolved;
        const path = resolved?.id ?? resolve(dirname(importer!), source);
        const name = `./${basename(path)}`;
        external.set(name, { name, type: rule.type, contents: new Uint8Array(readFileSync(path)) });
        return { id: name, external: true };
      },
    }],
  })) as Rollup.RollupOutput;
  const [chunk] = output.output as Rollup.OutputChunk[];
  const script: WorkerModule = { name: './worker.js', type: 'ESModule', contents: new TextEncoder().encode(chunk.code) };
  return [script, ...external.values()];
}

export interface RunningWorker {
  miniflare: Miniflare;
  /** Resident and peak resident memory (VmRSS, VmHWM) of its workerd process, in bytes. */
  memory(): { rss: number; peak: number };
}

/**
 * Starts workerd (miniflare) on 127.0.0.1 with the modules and the config's R2 buckets (empty, in memory) and
 * vars; miniflare.dispose() stops it.
 */
export async function startWorker(
  modules: WorkerModule[], { compatibilityDate, r2Buckets = [], vars = {} }: Partial<WranglerConfig> = {},
): Promise<RunningWorker> {
  const modulesRoot = '/worker';
  const before = new Set(workerdChildren());
  const miniflare = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    compatibilityDate,
    r2Buckets,
    bindings: vars,
    modulesRoot,
    modules: modules.map(({ name, type, contents }) => ({ type, path: join(modulesRoot, name), contents })),
  });
  await miniflare.ready;
  const [pid] = workerdChildren().filter((child) => !before.has(child));
  return { miniflare, memory: () => processMemory(pid) };
}

/** The workerd processes this process started. */
function workerdChildren(): string[] {
  return readdirSync('/proc').filter((pid) => {
    try {
      // "pid (comm) state ppid …"; comm may hold spaces, so split after its closing parenthesis.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      return comm === 'workerd' && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
    } catch {
      return false; // not a process, or one that ended while we looked
    }
  });
}

function processMemory(pid: string): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const bytes = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: bytes('VmRSS'), peak: bytes('VmHWM') };
}
