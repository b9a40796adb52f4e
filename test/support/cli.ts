import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** The built `googlenet` command (dist/cli/main.js). */
export const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `googlenet ...args` in a child process, as a user would (stderr is a pipe, not a terminal). */
export async function googlenet(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as CliResult;
    return { code, stdout, stderr };
  }
}
