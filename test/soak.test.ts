/**
 * A short soak (bench/soak.js; `npm run soak` is the full one, with timing and memory figures in bench/SOAK.md):
 * `googlenet serve` and the Deno example under concurrent valid and invalid requests. Asserts correctness only:
 * every valid image classified as its file name says, every invalid one a 4xx JSON error, no 5xx.
 */

import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain JavaScript, shared with `npm run soak`
import { soak } from '../bench/soak.js';

interface SoakReport {
  requests: number;
  valid: number;
  invalid: number;
  wrong: unknown[];
  serverErrors: number;
}

describe('soak (short)', () => {
  it.each(['node', 'deno'])('%s: 200 requests, 20 at a time: no wrong answer, no 5xx', async (server) => {
    const report: SoakReport = await soak(server, { requests: 200, concurrency: 20, warmup: 20, timeLimitS: 100 });
    expect(report.wrong).toEqual([]);
    expect(report.serverErrors).toBe(0);
    expect(report.requests).toBe(200);
    expect(report.valid).toBe(150);
    expect(report.invalid).toBe(50);
  });
});
