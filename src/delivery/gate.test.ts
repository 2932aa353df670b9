// The concurrency gate: at most `limit` holders, the others let in one by one in arrival order.
import { describe, expect, it } from 'vitest';
import { Gate } from './gate.js';

describe('Gate', () => {
  it('admits up to its limit at once, then one waiter per leave, in arrival order', async () => {
    const gate = new Gate(2);
    await gate.enter();
    await gate.enter();
    expect(gate.inUse).toBe(2);

    const admitted: number[] = [];
    const waiters = [1, 2, 3].map((n) => gate.enter().then(() => void admitted.push(n)));
    await Promise.resolve();
    expect(admitted).toEqual([]);

    gate.leave();
    await waiters[0];
    expect(admitted).toEqual([1]);
    expect(gate.inUse).toBe(2); // the slot passed straight to the waiter

    gate.leave();
    gate.leave();
    await Promise.all(waiters);
    expect(admitted).toEqual([1, 2, 3]);

    gate.leave();
    gate.leave();
    expect(gate.inUse).toBe(0);
  });
});
