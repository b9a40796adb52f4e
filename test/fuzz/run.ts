/**
 * Runs a fuzz target for a fixed number of cases (stopping early at a time budget): every case must succeed or
 * throw a GoogLeNetError with a message; anything else is a crash (a TypeError, a RangeError, a wasm trap, an
 * HTTP 500 …), and a case slower than the per-case limit is a hang. Crashing inputs are minimized and written
 * out so that they can become regression tests.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { GoogLeNetError } from '../../src/errors.js';
import { caseSeed, mutate, Rng } from './mutate.js';
import { REJECTED, type FuzzTarget } from './targets.js';

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** Stop starting cases after this long (the run then reports fewer cases). */
  budgetMs: number;
  /** A case that takes longer is reported as a hang. */
  caseLimitMs: number;
  /** Where minimized crashing inputs go. */
  crashDir?: string;
}

export interface Finding {
  kind: 'crash' | 'hang';
  caseIndex: number;
  mutators: string;
  message: string;
  inputBytes: number;
  /** The minimized input, written to crashDir when given. */
  file?: string;
}

export interface FuzzReport {
  target: string;
  cases: number;
  accepted: number;
  rejected: number;
  findings: Finding[];
  slowestMs: number;
  elapsedMs: number;
  /** How often each rejection message (its first words) came up. */
  rejections: Map<string, number>;
}

/** What went wrong, or undefined for a success or a typed rejection. */
async function outcome(target: FuzzTarget, input: Uint8Array, rng: Rng): Promise<{ rejected: boolean; message?: string; crash?: string }> {
  try {
    return { rejected: (await target.run(input, rng)) === REJECTED };
  } catch (error) {
    if (error instanceof GoogLeNetError && error.message.length >= 10) return { rejected: true, message: error.message };
    const { name, message, stack } = error as Error;
    return { rejected: true, crash: `${name}: ${message}\n${stack?.split('\n').slice(1, 6).join('\n') ?? ''}` };
  }
}

export async function fuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const report: FuzzReport = {
    target: target.name, cases: 0, accepted: 0, rejected: 0, findings: [], slowestMs: 0, elapsedMs: 0, rejections: new Map(),
  };
  for (const [i, input] of target.corpus.entries()) {
    const { crash, message } = await outcome(target, input, new Rng(i));
    if (crash || message) throw new Error(`${target.name}: corpus input ${i} is not accepted as it is: ${crash ?? message}`);
  }
  const started = performance.now();
  for (let index = 0; index < options.cases && performance.now() - started < options.budgetMs; index++) {
    const rng = new Rng(caseSeed(options.seed, index));
    const mutation = mutate(target.base?.(rng) ?? rng.pick(target.corpus), target.corpus, target.format, rng, target.mutators);
    const { mutators } = mutation;
    const input = target.repair?.(mutation.input, rng) ?? mutation.input;
    const caseStarted = performance.now();
    const result = await outcome(target, input, new Rng(caseSeed(options.seed, index) ^ 0x5bd1e995));
    const ms = performance.now() - caseStarted;
    report.cases++;
    report.slowestMs = Math.max(report.slowestMs, ms);
    if (result.rejected) report.rejected++;
    else report.accepted++;
    const gist = result.message?.replace(/"[^"]*"|\d+/g, '…').slice(0, 70);
    if (gist) report.rejections.set(gist, (report.rejections.get(gist) ?? 0) + 1);
    const kind = result.crash ? 'crash' : ms > options.caseLimitMs ? 'hang' : undefined;
    if (!kind) continue;
    const finding: Finding = {
      kind, caseIndex: index, mutators, inputBytes: input.length,
      message: result.crash ?? `took ${ms.toFixed(0)} ms, over the ${options.caseLimitMs} ms limit`,
    };
    if (kind === 'crash' && options.crashDir) {
      const minimized = await minimize(input, async (candidate) => (await outcome(target, candidate, new Rng(index))).crash !== undefined);
      mkdirSync(options.crashDir, { recursive: true });
      finding.file = `${options.crashDir}/${target.name.split(' ')[0].toLowerCase()}-seed${options.seed}-case${index}.bin`;
      writeFileSync(finding.file, minimized);
    }
    report.findings.push(finding);
  }
  report.elapsedMs = performance.now() - started;
  return report;
}

/** Tries at most this many candidates per crash: enough to shrink small inputs to their core. */
const MINIMIZE_ATTEMPTS = 2000;

/** Shrinks a crashing input: drops ever smaller chunks while it still crashes. */
async function minimize(input: Uint8Array, crashes: (candidate: Uint8Array) => Promise<boolean>): Promise<Uint8Array> {
  let current = input;
  let attempts = 0;
  for (let chunk = Math.max(1, current.length >> 1); chunk >= 1; chunk >>= 1) {
    for (let at = 0; at + chunk <= current.length && attempts++ < MINIMIZE_ATTEMPTS;) {
      const candidate = new Uint8Array(current.length - chunk);
      candidate.set(current.subarray(0, at));
      candidate.set(current.subarray(at + chunk), at);
      if (await crashes(candidate)) current = candidate;
      else at += chunk;
    }
  }
  return current;
}

/** One line per target for logs and bench/SOAK-style summaries. */
export function describeReport(report: FuzzReport): string {
  const { target, cases, accepted, rejected, findings, slowestMs, elapsedMs } = report;
  return `${target}: ${cases} cases in ${(elapsedMs / 1000).toFixed(1)} s (${accepted} accepted, ${rejected} rejected with typed errors), ` +
    `${findings.filter((f) => f.kind === 'crash').length} crashes, ${findings.filter((f) => f.kind === 'hang').length} hangs, slowest case ${slowestMs.toFixed(0)} ms`;
}
