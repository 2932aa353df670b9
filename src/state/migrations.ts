// Versioned schema of the state file. PRAGMA user_version holds the number of migrations applied;
// a migration is never edited once released: add a new one.

export const MIGRATIONS: readonly string[] = [
  // 1: records last confirmed per (sync, key), rejections due again, runs, cursors, locks.
  `
  create table records (
    sync text not null,
    key text not null,
    fingerprint text not null,
    payload text not null,
    sent_at text not null,
    run_id integer,
    primary key (sync, key)
  ) without rowid;

  create table rejections (
    sync text not null,
    key text not null,
    fingerprint text not null,
    status integer,
    reason text not null,
    attempts integer not null default 1,
    first_at text not null,
    last_at text not null,
    run_id integer,
    primary key (sync, key)
  ) without rowid;

  create table runs (
    id integer primary key,
    sync text not null,
    started_at text not null,
    ended_at text,
    outcome text not null default 'running',
    full integer not null default 0,
    counts text not null default '{}',
    error text,
    pid integer
  );
  create index runs_by_sync on runs (sync, id);

  create table run_issues (
    run_id integer not null,
    key text not null,
    class text not null,
    status integer,
    reason text not null
  );
  create index run_issues_by_run on run_issues (run_id);

  create table cursors (
    sync text primary key,
    value text not null,
    updated_at text not null
  );

  create table locks (
    sync text primary key,
    pid integer not null,
    host text not null,
    run_id integer,
    acquired_at text not null
  );

  create table generations (
    sync text primary key,
    generation integer not null
  );
  `,

  // 2: the hash of the source row (and of the mapping) that produced each confirmed payload, so a
  // row read again unchanged is known unchanged without mapping, validating and fingerprinting it.
  `
  alter table records add column row_hash text;
  -- Read for every row of every run: a compact index answers it without touching the payloads.
  create index records_row_hashes on records (sync, key, row_hash);
  `,

  // 3: a lock's liveness any host can check: its holder refreshes heartbeat_at while it runs; token
  // names one acquisition, so a holder that lost its lock never refreshes or releases the next one's.
  `
  alter table locks add column heartbeat_at text;
  alter table locks add column token text;
  `,

  // 4: for syncs read with pushdown (duckdb), the hash the database computed over the mapped columns
  // of the row each confirmed payload came from. Another hash than row_hash (computed by Backflow
  // over every column), so it has its own column; null until a pushdown run has seen the row.
  `
  alter table records add column source_hash text;
  create index records_source_hashes on records (sync, key, source_hash);
  `,

  // 5: the hash of the mapping each sync's confirmed payloads were made with, so plan can say once
  // that the mapping changed instead of showing the same field diff for every record.
  `
  create table mappings (
    sync text primary key,
    hash text not null,
    updated_at text not null
  );
  `,

  // 6: records a vendor took as a background job (a bulk request answered 202 with a job id): held
  // here, not in records, until the job reports completed; a failed job deletes them (they are due).
  `
  create table pending_records (
    sync text not null,
    key text not null,
    fingerprint text not null,
    payload text not null,
    row_hash text,
    source_hash text,
    job_id text not null,
    run_id integer,
    sent_at text not null,
    primary key (sync, key, fingerprint)
  ) without rowid;
  create index pending_records_by_job on pending_records (sync, job_id);
  `,
];
