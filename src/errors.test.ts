import { describe, expect, it } from 'vitest';
import { BackflowError, ConfigError, SourceError, StateError, SyncLockedError, UsageError } from './errors.js';

describe('process-level errors', () => {
  it('each has its own name, kind and exit code 1, and is a BackflowError the CLI prints as it is', () => {
    const cases = [
      [new ConfigError([{ file: 'backflow.yaml', line: 3, column: 5, path: 'syncs[0].source', message: 'unknown source "wh"' }]), 'ConfigError', 'config'],
      [new UsageError('no sync named "users"'), 'UsageError', 'usage'],
      [new StateError('state file s.db is damaged'), 'StateError', 'state'],
      [new SyncLockedError('sync "users" is running'), 'SyncLockedError', 'state'],
      [new SourceError('source "wh" (postgres): connection refused'), 'SourceError', 'source'],
    ] as const;
    for (const [error, name, kind] of cases) {
      expect(error).toBeInstanceOf(BackflowError);
      expect([error.name, error.kind, error.exitCode]).toEqual([name, kind, 1]);
      expect(String(error)).toMatch(new RegExp(`^${name}: `));
    }
    expect(new Error('a bug')).not.toBeInstanceOf(BackflowError);
  });

  it('a config error says every issue with its position', () => {
    const error = new ConfigError([
      { file: 'b.yaml', line: 3, column: 5, path: 'syncs[0].source', message: 'unknown source "wh"' },
      { file: 'b.yaml', line: 1, column: 1, path: '', message: 'version must be 1' },
    ]);
    expect(error.message).toBe('b.yaml:3:5: syncs[0].source: unknown source "wh"\nb.yaml:1:1: version must be 1');
  });

  it('keeps the cause it was given', () => {
    const cause = new Error('ECONNREFUSED');
    expect(new SourceError('source "wh": cannot connect', { cause }).cause).toBe(cause);
  });
});
