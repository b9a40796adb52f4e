/** The JavaScript runtime a benchmark script runs in: its name and version, its wasm flags, how to run a script. */
export function currentRuntime() {
  if (globalThis.Deno) return { runtime: 'deno', version: globalThis.Deno.version.deno, flags: [], scriptArgs: ['run', '-A'] };
  if (globalThis.Bun) return { runtime: 'bun', version: globalThis.Bun.version, flags: [], scriptArgs: [] };
  return { runtime: 'node', version: process.versions.node, flags: process.execArgv, scriptArgs: process.execArgv };
}

/**
 * A full garbage collection where the runtime offers one: Bun.gc, or gc() where the engine exposes it (`npm run
 * bench` runs Node with --expose-gc and Deno with --v8-flags=--expose-gc); elsewhere nothing.
 */
export function collectGarbage() {
  if (globalThis.Bun) globalThis.Bun.gc(true);
  else globalThis.gc?.();
}
