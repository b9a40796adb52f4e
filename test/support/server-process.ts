/** A server in a child process (googlenet serve, the Deno and Bun examples) that prints its URL once listening. */

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { SAMPLES } from './samples.js';

export interface ServerProcess {
  /** The URL the server printed, ending in a slash. */
  url: string;
  child: ChildProcess;
  /** Everything printed so far. */
  output(): { stdout: string; stderr: string };
  /** Sends `signal` and resolves with the exit code (null if a signal ended it) and the output. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

const URL_PATTERN = /(http:\/\/[^\s/]+)\/?(\s|$)/;

/** Spawns `command` and resolves once it prints an http:// URL on stdout; rejects if it exits or stays silent. */
export function startServer(command: string, args: string[], options: SpawnOptions = {}, timeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = () => ({ stdout, stderr });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} printed no URL within ${timeoutMs} ms: ${JSON.stringify(output())}`));
    }, timeoutMs);
    child.stdout!.on('data', () => {
      const match = URL_PATTERN.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        url: `${match[1]}/`, child, output,
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return { code: await exited, ...output() };
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before printing a URL: ${JSON.stringify(output())}`));
    });
  });
}

/** POSTs every sample image to `url`classify and checks that each top label is the one its file name gives. */
export async function classifySamples(url: string): Promise<{ file: string; label: string; expected: string }[]> {
  return Promise.all(SAMPLES.map(async ({ file, bytes, label: expected }) => {
    const response = await fetch(`${url}classify?top=1`, { method: 'POST', body: bytes as BodyInit, headers: { 'content-type': 'image/png' } });
    const body = await response.json() as { predictions: { label: string }[] };
    return { file, label: body.predictions?.[0]?.label ?? `HTTP ${response.status}`, expected };
  }));
}
