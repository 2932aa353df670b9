import { describe, expect, it } from 'vitest';
import { BackflowError, ConfigError, postError, receiveError, SourceError, StateError, SyncLockedError, UsageError } from './errors.js';

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

describe('errors across the reader thread', () => {
  it('arrive as the class they were thrown as, with their message and the thread stack; a bug stays a bug', () => {
    const cross = (error: unknown) => receiveError(structuredClone(postError(error)));
    const state = cross(new StateError('event store e.db is not a Backflow event store'));
    expect(state).toBeInstanceOf(StateError);
    expect(state.message).toBe('event store e.db is not a Backflow event store');
    expect(cross(new SourceError('source "wh": refused'))).toBeInstanceOf(SourceError);
    expect(cross(new UsageError('no such model'))).toBeInstanceOf(UsageError);
    const thrown = new TypeError('rows is not iterable');
    const bug = cross(thrown);
    expect(bug).not.toBeInstanceOf(BackflowError);
    expect([bug.message, bug.stack]).toEqual(['rows is not iterable', thrown.stack]);
    expect(cross('a string').message).toBe('a string');
  });
});
