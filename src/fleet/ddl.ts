// The tables of the fleet's shared rate budgets, for the PostgreSQL state's migrations to create
// (unqualified: the state's connection sets search_path to its schema). Idempotent.
//
// One row per destination: `next_at` is the GCRA theoretical arrival time (the earliest moment, on
// the server's clock, the next request of the fleet may leave) and `paused_until` a pause a vendor
// asked for (Retry-After, rate-limit headers), which every member's next reservation honours. The
// concurrency slots need no table: they are session-level advisory locks (see slots.ts).
export const RATE_BUDGET_DDL = `create table if not exists rate_budgets (
  destination text primary key,
  next_at timestamptz not null default '-infinity',
  paused_until timestamptz not null default '-infinity'
)`;
