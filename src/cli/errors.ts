/** A command-line mistake; printed with a hint to --help. */
export class UsageError extends Error {}
