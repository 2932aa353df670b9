import { describe, expect, it } from 'vitest';
import { cronRangeProblem } from './cron-fields.js';

describe('cronRangeProblem', () => {
  it.each(['*/15 * * * *', '0 * * * *', '0 9-17/2 * * mon-fri', '30 2 1,15 jan,jul *', '0 0 * * 7', '*/30 * * * * *', '59 23 31 12 6'])(
    'accepts %s',
    (expression) => {
      expect(cronRangeProblem(expression)).toBeUndefined();
    },
  );

  it.each([
    ['*/61 * * * *', 'minute field "*/61": step /61 is out of range (1-60)'],
    ['60 * * * *', 'minute field "60": 60 is out of range (0-59)'],
    ['0 24 * * *', 'hour field "24": 24 is out of range (0-23)'],
    ['0 0 0 * *', 'day of month field "0": 0 is out of range (1-31)'],
    ['0 0 1 13 *', 'month field "13": 13 is out of range (1-12)'],
    ['0 0 * * 8', 'weekday field "8": 8 is out of range (0-7)'],
    ['*/0 * * * *', 'minute field "*/0": step /0 is out of range (1-60)'],
    ['*/61 * * * * *', 'second field "*/61": step /61 is out of range (1-60)'],
    ['0 1-30 * * *', 'hour field "1-30": 30 is out of range (0-23)'],
  ])('refuses %s', (expression, problem) => {
    expect(cronRangeProblem(expression)).toBe(problem);
  });
});
