// `backflow sync`'s exit code from its runs' outcomes: 0 all confirmed, 3 some records refused or
// failed while others went out, 1 a run that stopped, failed or was interrupted (the worst one wins).
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../engine/sync.js';
import { exitCodeFor } from './sync.js';

/** exitCodeFor reads only the outcome of each run. */
const run = (outcome: RunSummary['outcome']) => ({ outcome }) as RunSummary;

describe('exitCodeFor', () => {
  it('is 0 when every run succeeded, or when nothing ran', () => {
    expect(exitCodeFor([run('success'), run('success')])).toBe(0);
    expect(exitCodeFor([])).toBe(0);
  });

  it('is 3 when a run was partial and none worse', () => {
    expect(exitCodeFor([run('partial')])).toBe(3);
    expect(exitCodeFor([run('success'), run('partial'), run('success')])).toBe(3);
  });

  it.each(['failed', 'stopped', 'interrupted'] as const)('is 1 when a run %s, whatever the others did', (outcome) => {
    expect(exitCodeFor([run(outcome)])).toBe(1);
    expect(exitCodeFor([run('success'), run('partial'), run(outcome)])).toBe(1);
    expect(exitCodeFor([run(outcome), run('partial')])).toBe(1);
  });
});
