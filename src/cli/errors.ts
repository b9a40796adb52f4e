/** A command-line mistake; printed with a hint to --help. */
export class UsageError extends Error {}

/** The integer value of a flag, in [min, max], written in plain digits; else a UsageError naming the flag. */
export function parseInteger(flag: string, value: string, min: number, max: number): number {
  const number = Number(value);
  if (!/^[0-9]+$/.test(value) || number < min || number > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, not "${value}"`);
  }
  return number;
}
