// One write transaction's work on the event store: its prepared statements, and the profiles it
// reads once, changes in memory by every event of the transaction, and writes back once.
import type Database from 'better-sqlite3';
import type { IncomingEvent } from './messages.js';
import { absorb, mergeTraits, newProfile, type Profile, type TimedTraits } from './profiles.js';

interface ProfileRow {
  id: number;
  user_id: string | null;
  traits: string;
  trait_times: string;
  group_id: string | null;
  group_time: string | null;
  first_seen_at: string;
  last_seen_at: string;
  event_count: number;
  event_counts: string;
}

function fromRow(row: ProfileRow): Profile {
  return {
    id: row.id,
    userId: row.user_id,
    traits: { values: JSON.parse(row.traits), times: JSON.parse(row.trait_times) },
    groupId: row.group_id,
    groupTime: row.group_time,
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
    eventCount: row.event_count,
    eventCounts: JSON.parse(row.event_counts),
  };
}

/** What a reader of the profile sees (trait times excluded): a change here earns a new change_seq. */
const visible = (profile: Profile) =>
  JSON.stringify([profile.userId, profile.traits.values, profile.groupId, profile.firstSeenAt, profile.lastSeenAt, profile.eventCount, profile.eventCounts]);
const whole = (profile: Profile) => JSON.stringify([visible(profile), profile.traits.times, profile.groupTime]);

interface Loaded {
  profile: Profile;
  /** `whole` and `visible` as last written. */
  savedWhole: string;
  savedVisible: string;
}

export type Statements = ReturnType<typeof prepare>;

export function prepare(db: Database.Database) {
  return {
    insertEvent: db.prepare(
      'insert or ignore into events (message_id, type, user_id, anonymous_id, timestamp, received_at, body) values (?, ?, ?, ?, ?, ?, ?)',
    ),
    maxSeq: db.prepare('select coalesce(max(change_seq), 0) as seq from profiles'),
    byId: db.prepare('select * from profiles where id = ?'),
    idByUser: db.prepare('select id from profiles where user_id = ?'),
    idByAnonymous: db.prepare('select profile_id as id from identities where anonymous_id = ?'),
    insertProfile: db.prepare(
      `insert into profiles (user_id, traits, trait_times, first_seen_at, last_seen_at, event_count, event_counts, change_seq)
       values (?, '{}', '{}', ?, ?, 0, '{}', ?)`,
    ),
    updateProfile: db.prepare(
      `update profiles set user_id = @userId, traits = @traits, trait_times = @traitTimes, group_id = @groupId, group_time = @groupTime,
       first_seen_at = @firstSeenAt, last_seen_at = @lastSeenAt, event_count = @eventCount, event_counts = @eventCounts,
       change_seq = coalesce(@seq, change_seq) where id = @id`,
    ),
    bumpProfile: db.prepare('update profiles set change_seq = ? where id = ?'),
    deleteProfile: db.prepare('delete from profiles where id = ?'),
    link: db.prepare(
      'insert into identities (anonymous_id, profile_id) values (?, ?) on conflict (anonymous_id) do update set profile_id = excluded.profile_id',
    ),
    moveIdentities: db.prepare('update identities set profile_id = ? where profile_id = ?'),
    group: db.prepare('select traits, trait_times from groups where group_id = ?'),
    saveGroup: db.prepare(
      'insert into groups (group_id, traits, trait_times) values (?, ?, ?) on conflict (group_id) do update set traits = excluded.traits, trait_times = excluded.trait_times',
    ),
    groupMembers: db.prepare('select id from profiles where group_id = ?'),
  };
}

/**
 * One write transaction's view of the profiles: each is read once, changed in memory by every event
 * of the transaction, and written once at the end (with a new change_seq if a reader would see a
 * difference).
 */
export class ProfileSession {
  private readonly loaded = new Map<number, Loaded>();
  /** userId -> profile id, for profiles loaded or given a userId in this transaction. */
  private readonly users = new Map<string, number>();
  /** Profiles whose anonymousIds or group traits changed: they need a new change_seq. */
  private readonly bumped = new Set<number>();
  private readonly deleted = new Set<number>();
  private seq: number;

  constructor(private readonly s: Statements) {
    this.seq = (s.maxSeq.get() as { seq: number }).seq;
  }

  private nextSeq(): number {
    return ++this.seq;
  }

  private load(id: number): Profile {
    let entry = this.loaded.get(id);
    if (!entry) {
      const profile = fromRow(this.s.byId.get(id) as ProfileRow);
      entry = { profile, savedWhole: whole(profile), savedVisible: visible(profile) };
      this.loaded.set(id, entry);
      if (profile.userId !== null) this.users.set(profile.userId, id);
    }
    return entry.profile;
  }

  private create(userId: string | null, at: string): Profile {
    const id = Number(this.s.insertProfile.run(userId, at, at, this.nextSeq()).lastInsertRowid);
    const profile = newProfile(id, userId, at);
    this.loaded.set(id, { profile, savedWhole: '', savedVisible: '' });
    if (userId !== null) this.users.set(userId, id);
    return profile;
  }

  private byUser(userId: string): Profile | undefined {
    const known = this.users.get(userId);
    if (known !== undefined) return this.loaded.get(known)!.profile;
    const row = this.s.idByUser.get(userId) as { id: number } | undefined;
    return row && !this.deleted.has(row.id) ? this.load(row.id) : undefined;
  }

  private byAnonymous(anonymousId: string): Profile | undefined {
    const row = this.s.idByAnonymous.get(anonymousId) as { id: number } | undefined;
    return row ? this.load(row.id) : undefined;
  }

  /** Points `anonymousId` at `profile`; the profile that held it before loses it (and changes). */
  private link(anonymousId: string, profile: Profile, previous: Profile | undefined): void {
    if (previous?.id === profile.id) return;
    this.s.link.run(anonymousId, profile.id);
    this.bumped.add(profile.id);
    if (previous) this.bumped.add(previous.id);
  }

  /**
   * The profile an event belongs to. A userId has one profile; an anonymous id seen before belongs
   * to the profile it was linked to. When an event names both, the anonymous id is linked to the
   * user's profile, and a profile that had only that anonymous id is merged into it. Two users'
   * profiles are never merged: an anonymous id seen with a new user moves to that user.
   */
  resolve(event: IncomingEvent): Profile {
    const anonymousIds = [event.anonymousId, event.previousId].filter((id): id is string => id !== null);
    let profile = event.userId ? this.byUser(event.userId) : undefined;
    for (const anonymousId of anonymousIds) {
      const holder = this.byAnonymous(anonymousId);
      if (!profile) {
        if (holder && (holder.userId === null || event.userId === null)) {
          if (holder.userId === null && event.userId !== null) {
            holder.userId = event.userId; // an anonymous profile becomes the user's
            this.users.set(event.userId, holder.id);
          }
          profile = holder;
          continue;
        }
        profile = this.create(event.userId, event.timestamp);
      }
      if (holder && holder.id !== profile.id && holder.userId === null) {
        absorb(profile, holder);
        this.s.moveIdentities.run(profile.id, holder.id);
        this.s.deleteProfile.run(holder.id);
        this.loaded.delete(holder.id);
        this.deleted.add(holder.id);
        this.bumped.add(profile.id);
      } else {
        this.link(anonymousId, profile, holder);
      }
    }
    return profile ?? this.create(event.userId, event.timestamp);
  }

  /** Merges a group call's traits into the group; when they change, every member's row changes. */
  mergeGroup(groupId: string, traits: Record<string, unknown>, at: string): void {
    const row = this.s.group.get(groupId) as { traits: string; trait_times: string } | undefined;
    const group: TimedTraits = row ? { values: JSON.parse(row.traits), times: JSON.parse(row.trait_times) } : { values: {}, times: {} };
    const before = JSON.stringify(group.times);
    const changed = mergeTraits(group, traits, at);
    if (!row || before !== JSON.stringify(group.times)) this.s.saveGroup.run(groupId, JSON.stringify(group.values), JSON.stringify(group.times));
    if (changed) for (const member of this.s.groupMembers.all(groupId) as { id: number }[]) this.bumped.add(member.id);
  }

  /** Writes every profile this transaction changed. */
  save(): void {
    for (const [id, entry] of this.loaded) {
      const { profile } = entry;
      const changedVisibly = visible(profile) !== entry.savedVisible || this.bumped.has(id);
      if (!changedVisibly && whole(profile) === entry.savedWhole) continue;
      this.s.updateProfile.run({
        id,
        userId: profile.userId,
        traits: JSON.stringify(profile.traits.values),
        traitTimes: JSON.stringify(profile.traits.times),
        groupId: profile.groupId,
        groupTime: profile.groupTime,
        firstSeenAt: profile.firstSeenAt,
        lastSeenAt: profile.lastSeenAt,
        eventCount: profile.eventCount,
        eventCounts: JSON.stringify(profile.eventCounts),
        seq: changedVisibly ? this.nextSeq() : null,
      });
    }
    for (const id of this.bumped) if (!this.loaded.has(id) && !this.deleted.has(id)) this.s.bumpProfile.run(this.nextSeq(), id);
  }
}
