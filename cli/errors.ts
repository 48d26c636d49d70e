// What the CLI's exit code says, and the one error type its commands throw. A CliError's message is
// written for the person at the terminal: what went wrong and what to do next.

/** Exit codes, documented in docs/cli.md: scripts can tell "fix your input" from "Stratus is down". */
export const EXIT = {
  ok: 0,
  /** The operation failed: the API refused it, a build failed, an invocation failed. */
  failed: 1,
  /** Bad arguments, a bad stratus.yaml, or nothing configured. */
  usage: 2,
  /** Stratus could not be reached. */
  unreachable: 3,
  /** Stratus refused the API key. */
  unauthorized: 4,
  /** Stopped with Ctrl-C while following something that goes on without the CLI (a build). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode = EXIT.failed) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
