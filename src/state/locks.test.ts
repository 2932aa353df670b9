// When a sync lock's holder counts as alive: heartbeat age on any host, the pid on its own host.
import { describe, expect, it } from 'vitest';
import { heartbeatIntervalMs, holderLiveness, type Here, type LockHolder } from './locks.js';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const here: Here = { host: 'web-1', pid: 100, nowMs: NOW, expiryMs: 30_000, isAlive: (pid) => pid === 200 };
const holder = (changes: Partial<LockHolder>): LockHolder => ({
  pid: 200,
  host: 'web-1',
  acquired_at: '2026-06-01T11:00:00.000Z',
  heartbeat_at: '2026-06-01T11:59:50.000Z',
  ...changes,
});

describe('holderLiveness', () => {
  it('a live process on this host with a fresh heartbeat is alive', () => {
    expect(holderLiveness(holder({}), here)).toEqual({ alive: true });
  });

  it('a dead process on this host is not, whatever its heartbeat says', () => {
    expect(holderLiveness(holder({ pid: 300 }), here)).toEqual({ alive: false, why: 'its process 300 on web-1 no longer exists' });
  });

  it('another host is judged by its heartbeat alone: fresh up to the expiry, expired past it', () => {
    expect(holderLiveness(holder({ host: 'web-2', pid: 300, heartbeat_at: '2026-06-01T11:59:30.000Z' }), here)).toEqual({ alive: true });
    expect(holderLiveness(holder({ host: 'web-2', pid: 300, heartbeat_at: '2026-06-01T11:59:29.999Z' }), here)).toMatchObject({
      alive: false,
      why: 'process 300 on web-2 stopped heartbeating (last at 2026-06-01T11:59:29.999Z, over 30 s ago)',
    });
  });

  it('an expired heartbeat is taken over on this host too (a paused process, a reused pid)', () => {
    expect(holderLiveness(holder({ heartbeat_at: '2026-06-01T11:00:00.000Z' }), here).alive).toBe(false);
  });

  it('a lock from before heartbeats: the pid decides on this host, the acquisition time elsewhere', () => {
    expect(holderLiveness(holder({ heartbeat_at: null }), here)).toEqual({ alive: true });
    expect(holderLiveness(holder({ host: 'web-2', heartbeat_at: null }), here).alive).toBe(false);
    expect(holderLiveness(holder({ host: 'web-2', heartbeat_at: null, acquired_at: '2026-06-01T11:59:59.000Z' }), here)).toEqual({ alive: true });
  });

  it('an unreadable time counts as expired, never as alive forever', () => {
    expect(holderLiveness(holder({ host: 'web-2', heartbeat_at: 'garbage' }), here).alive).toBe(false);
  });

  it('beats six times per expiry, never more often than every 100 ms', () => {
    expect(heartbeatIntervalMs(30_000)).toBe(5_000);
    expect(heartbeatIntervalMs(300)).toBe(100);
  });
});
