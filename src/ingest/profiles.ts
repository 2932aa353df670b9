// Profile merge rules, as pure functions over plain data: which trait value wins, what an event
// adds to a profile, and how an anonymous profile folds into an identified one.
import type { IncomingEvent } from './messages.js';

export type JsonObject = Record<string, unknown>;

/** Trait values with, per key, the event time that set it: a newer time wins, an older one never overwrites. */
export interface TimedTraits {
  values: JsonObject;
  times: Record<string, string>;
}

export interface Profile {
  /** Row id in the store; profiles are created before they are merged into. */
  id: number;
  userId: string | null;
  traits: TimedTraits;
  groupId: string | null;
  /** Time of the group call that set groupId. */
  groupTime: string | null;
  firstSeenAt: string;
  lastSeenAt: string;
  /** Track events seen, in total and per event name. */
  eventCount: number;
  eventCounts: Record<string, number>;
}

/** Sets an own property even for "__proto__", so a trait name can never reach an object's prototype. */
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Merges `incoming` traits set at `at` (ISO time) into `target`, key by key: a key takes the new
 * value unless an event newer than `at` already set it (ties go to the later arrival).
 * Returns whether anything changed.
 */
export function mergeTraits(target: TimedTraits, incoming: JsonObject, at: string): boolean {
  let changed = false;
  for (const [key, value] of Object.entries(incoming)) {
    const setAt = Object.hasOwn(target.times, key) ? target.times[key] : undefined;
    if (setAt !== undefined && setAt > at) continue;
    if (!changed && JSON.stringify(target.values[key]) !== JSON.stringify(value)) changed = true;
    setOwn(target.values, key, value);
    setOwn(target.times, key, at);
  }
  return changed;
}

export function newProfile(id: number, userId: string | null, at: string): Profile {
  return {
    id,
    userId,
    traits: { values: {}, times: {} },
    groupId: null,
    groupTime: null,
    firstSeenAt: at,
    lastSeenAt: at,
    eventCount: 0,
    eventCounts: {},
  };
}

/** What one stored event changes in its profile (group traits live with the group, not here). */
export function applyEvent(profile: Profile, event: IncomingEvent): void {
  const at = event.timestamp;
  if (at < profile.firstSeenAt) profile.firstSeenAt = at;
  if (at > profile.lastSeenAt) profile.lastSeenAt = at;
  switch (event.type) {
    case 'identify':
      if (event.traits) mergeTraits(profile.traits, event.traits, at);
      break;
    case 'group':
      if (profile.groupTime === null || at >= profile.groupTime) {
        profile.groupId = event.groupId;
        profile.groupTime = at;
      }
      break;
    case 'track': {
      profile.eventCount++;
      const name = event.event!;
      setOwn(profile.eventCounts, name, (Object.hasOwn(profile.eventCounts, name) ? profile.eventCounts[name] : 0) + 1);
      break;
    }
    default:
      // page, screen and alias only move the seen times.
      break;
  }
}

/** Folds `from` (an anonymous profile) into `into`: traits by time, the newer group, summed counters. */
export function absorb(into: Profile, from: Profile): void {
  for (const [key, value] of Object.entries(from.traits.values)) {
    mergeTraits(into.traits, { [key]: value }, from.traits.times[key]);
  }
  if (from.groupTime !== null && (into.groupTime === null || from.groupTime > into.groupTime)) {
    into.groupId = from.groupId;
    into.groupTime = from.groupTime;
  }
  if (from.firstSeenAt < into.firstSeenAt) into.firstSeenAt = from.firstSeenAt;
  if (from.lastSeenAt > into.lastSeenAt) into.lastSeenAt = from.lastSeenAt;
  into.eventCount += from.eventCount;
  for (const [name, count] of Object.entries(from.eventCounts)) {
    setOwn(into.eventCounts, name, (Object.hasOwn(into.eventCounts, name) ? into.eventCounts[name] : 0) + count);
  }
}
