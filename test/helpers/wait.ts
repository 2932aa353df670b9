// Waiting in tests without guessed budgets: a wait ends when what it waits for happens. A wait whose
// event never comes is ended by the test's own timeout (a backstop for hangs, never a budget), and
// the failure then names what the test was still waiting for.
import { onTestFailed, onTestFinished } from 'vitest';

/** Something that says when its state may have changed: an emulator (each request, each answer), a log (each line). */
export interface Changes {
  onChange(listener: () => void): () => void;
}

/** A list of listeners to tell of each change: what a test-side event source (a log, a child's output) offers. */
export class ChangeSignal implements Changes {
  private readonly listeners = new Set<() => void>();

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Checked this often when the condition has no change events (a database view, a file in /proc). */
const POLL_MS = 10;

type Found<T> = Exclude<T, undefined | null | false>;

/**
 * Resolves with the first value of `condition` that is not undefined, null or false: checked now,
 * then at each change of `changes` or, without it, every few milliseconds. A condition that throws
 * (say, because a child exited before the line it waited for) fails the wait with that error.
 */
export async function waitUntil<T>(what: string, condition: () => T | Promise<T>, changes?: Changes): Promise<Found<T>> {
  let waiting = true;
  let testEnded = false;
  onTestFailed(() => {
    if (waiting) console.error(`the test failed while still waiting for ${what}`);
  });
  onTestFinished(() => void (testEnded = true));
  try {
    for (;;) {
      if (testEnded) throw new Error(`the test ended while waiting for ${what}`);
      const value = await condition();
      if (value !== undefined && value !== null && value !== false) return value as Found<T>;
      await nextChance(changes);
    }
  } finally {
    waiting = false;
  }
}

function nextChance(changes: Changes | undefined): Promise<void> {
  if (!changes) return new Promise((resolve) => setTimeout(resolve, POLL_MS));
  return new Promise((resolve) => {
    const off = changes.onChange(() => {
      off();
      resolve();
    });
  });
}
