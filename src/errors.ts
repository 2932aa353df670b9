// Process-level errors: what ends a command, said for the user. A BackflowError's message was written
// for the user (what went wrong, where, what to do), so the CLI prints it as it is; anything else is
// an internal error, printed with its stack when BACKFLOW_DEBUG is set. Every one of them exits 1:
// the other exit codes (2 a plan with changes, 3 a partial sync, 130/143 a signal) are outcomes.
// Record-level failures (a mapping or transform refusing a row) are reasons on the record, not these.

export type ErrorKind = 'config' | 'usage' | 'state' | 'source';

export abstract class BackflowError extends Error {
  abstract readonly kind: ErrorKind;
  readonly exitCode = 1;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where a config problem is: `file:line:column`, and the dotted path in the config. */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path in the config, e.g. syncs[0].mapping.country. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** The config file is invalid: every issue at once, each with its position. */
export class ConfigError extends BackflowError {
  readonly kind = 'config';
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

/** The command was asked for something it cannot do: an unknown sync, a stale plan file, a bad flag. */
export class UsageError extends BackflowError {
  readonly kind = 'usage';
}

/** Backflow's own files (the state file, the event store) cannot be used as they are, or a sync is locked. */
export class StateError extends BackflowError {
  readonly kind = 'state';
}

/** The sync is running in another process (or another run of this one). */
export class SyncLockedError extends StateError {}

/** A source cannot be read: unreachable, refused the query, or returned rows the sync cannot use. */
export class SourceError extends BackflowError {
  readonly kind = 'source';
}

/** An error as it crosses a thread (structured clone keeps no class): its kind, message and stack. */
export interface PostedError {
  kind: ErrorKind | 'internal';
  message: string;
  stack?: string;
  /** A SyncLockedError (the daemon skips such a run instead of reporting a crash). */
  locked?: boolean;
}

export function postError(error: unknown): PostedError {
  const { message, stack } = error instanceof Error ? error : new Error(String(error));
  return { kind: error instanceof BackflowError ? error.kind : 'internal', message, stack, ...(error instanceof SyncLockedError ? { locked: true } : {}) };
}

/**
 * The posted error as the class it was thrown as, so a state or usage problem found in the reader
 * thread is said as one, and a bug stays a bug (with the thread's stack). A config error (found
 * before any read starts) would arrive as a source error: no source raises one.
 */
export function receiveError(posted: PostedError): Error {
  const error = posted.locked
    ? new SyncLockedError(posted.message)
    : posted.kind === 'internal'
      ? new Error(posted.message)
      : new (posted.kind === 'state' ? StateError : posted.kind === 'usage' ? UsageError : SourceError)(posted.message);
  if (posted.stack) error.stack = posted.stack;
  return error;
}
