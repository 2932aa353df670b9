// How a sync's query becomes the statement a SQL source runs: the cursor filter wrapped around it,
// `:cursor` placeholders, quoting, and the check that a query only reads.
import { describe, expect, it } from 'vitest';
import { bareQuery, bindsCursor, emptyQuery, incrementalQuery, notAReadReason, positionalCursor, quoteBacktick, quoteIdent } from './sql.js';

describe('incrementalQuery', () => {
  it('runs the query as written until a cursor exists', () => {
    expect(incrementalQuery('select * from users', 'updated_at', undefined)).toBe('select * from users');
    expect(incrementalQuery('select * from users', 'updated_at', null)).toBe('select * from users');
    expect(incrementalQuery('select * from users', undefined, '2026-01-01')).toBe('select * from users');
  });

  it('filters the query’s rows past the cursor once there is one, quoting the column', () => {
    expect(incrementalQuery('select * from users', 'updated_at', '2026-01-01')).toBe(
      'select * from (select * from users\n) as backflow_source where "updated_at" > :cursor',
    );
    // A cursor of 0 or '' is a cursor, not "no cursor yet".
    expect(incrementalQuery('select * from t', 'seq', 0)).toContain('where "seq" > :cursor');
    expect(incrementalQuery('select * from t', 'seq', '')).toContain('where "seq" > :cursor');
  });

  it('quotes the column the source’s way (backticks for MySQL), doubling quotes inside', () => {
    expect(incrementalQuery('select 1', 'up"dated', 5)).toContain('where "up""dated" > :cursor');
    expect(incrementalQuery('select 1', 'up`dated', 5, quoteBacktick)).toContain('where `up``dated` > :cursor');
  });

  it('leaves a query that binds :cursor itself as written', () => {
    const query = 'select * from users where updated_at > :cursor order by updated_at';
    expect(incrementalQuery(query, 'updated_at', '2026-01-01')).toBe(query);
  });

  it('wraps a query ending in a comment or semicolons so the closing parenthesis survives', () => {
    expect(incrementalQuery('select * from users -- all of them', 'id', 3)).toBe(
      'select * from (select * from users -- all of them\n) as backflow_source where "id" > :cursor',
    );
    expect(incrementalQuery('  select * from users;;  \n', 'id', 3)).toBe('select * from (select * from users\n) as backflow_source where "id" > :cursor');
  });
});

describe('the other statement helpers', () => {
  it('bindsCursor sees :cursor but not a ::cursor cast or a longer name', () => {
    expect(bindsCursor('where a > :cursor')).toBe(true);
    expect(bindsCursor('where a > :cursor)')).toBe(true);
    expect(bindsCursor("select 'x'::cursor")).toBe(false);
    expect(bindsCursor('where a > :cursor_2')).toBe(false);
  });

  it('positionalCursor rewrites each :cursor into the driver’s placeholder and counts them', () => {
    expect(positionalCursor('a > :cursor or b > :cursor', '?')).toEqual({ text: 'a > ? or b > ?', occurrences: 2 });
    expect(positionalCursor('a > :cursor and c::cursor', '$1')).toEqual({ text: 'a > $1 and c::cursor', occurrences: 1 });
    expect(positionalCursor('select 1', '$1')).toEqual({ text: 'select 1', occurrences: 0 });
  });

  it('emptyQuery asks for the columns without reading rows', () => {
    expect(emptyQuery('select * from users;')).toBe('select * from (select * from users\n) as backflow_source limit 0');
  });

  it('bareQuery trims whitespace and trailing semicolons only', () => {
    expect(bareQuery("  select ';' from t;;  \n")).toBe("select ';' from t");
    expect(bareQuery('select 1')).toBe('select 1');
  });

  it('quoteIdent and quoteBacktick double the quote inside a name', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteBacktick('a`b')).toBe('`a``b`');
  });
});

describe('notAReadReason', () => {
  it.each([
    'select * from users',
    '  SELECT id FROM users;',
    'with recent as (select * from users) select * from recent',
    'values (1, 2)',
    'table users',
    'from users select id', // DuckDB's FROM-first form
    'pivot cities on year using sum(population)',
    "select * from users where note = 'please delete me' -- drop table later",
    'select "update", `insert` from t /* create */',
    'select $body$ delete from x $body$ as text',
  ])('accepts a plain read: %s', (query) => {
    expect(notAReadReason(query)).toBeUndefined();
  });

  it.each([
    ['', 'the query is empty (only comments)'],
    ['-- nothing here\n/* still nothing */', 'the query is empty (only comments)'],
    ['select 1; select 2', 'the query holds more than one statement: give one SELECT'],
    ['select 1; drop table users', 'the query holds more than one statement: give one SELECT'],
    ['delete from users', 'the query starts with DELETE, not SELECT'],
    ['update users set a = 1', 'the query starts with UPDATE, not SELECT'],
    ['copy users to stdout', 'the query starts with COPY, not SELECT'],
    ['with gone as (delete from users returning *) select * from gone', 'the query contains DELETE, which changes data'],
    ['select * into backup from users', 'the query contains INTO, which changes data'],
  ])('refuses %j: %s', (query, reason) => {
    expect(notAReadReason(query)).toBe(reason);
  });
});
