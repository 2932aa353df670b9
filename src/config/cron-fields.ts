// Range checks node-cron's validate() skips: it accepts "*/61 * * * *", which would never run as meant.

interface Field {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const FIVE: Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  // 7 is Sunday too, as in cron.
  { name: 'weekday', min: 0, max: 7, names: WEEKDAYS },
];
const SECOND: Field = { name: 'second', min: 0, max: 59 };

/** A value of the field: a number in range, or (months, weekdays) a name or its 3-letter prefix. */
function valueProblem(field: Field, text: string): string | undefined {
  const index = field.names?.findIndex((name) => text.toLowerCase().startsWith(name));
  if (index !== undefined && index >= 0) return undefined;
  if (!/^\d+$/.test(text)) return `"${text}" is not a number`;
  const value = Number(text);
  return value < field.min || value > field.max ? `${value} is out of range (${field.min}-${field.max})` : undefined;
}

function partProblem(field: Field, part: string): string | undefined {
  const [range, step, extra] = part.split('/');
  if (extra !== undefined) return `"${part}" has more than one "/"`;
  if (step !== undefined) {
    if (!/^\d+$/.test(step)) return `step "${step}" is not a number`;
    const span = field.max - field.min + 1;
    if (Number(step) < 1 || Number(step) > span) return `step /${step} is out of range (1-${span})`;
  }
  if (range === '*') return undefined;
  for (const value of range.split('-')) {
    const problem = valueProblem(field, value);
    if (problem) return problem;
  }
  return undefined;
}

/** The first out-of-range value or step of a cron expression node-cron accepted, as a sentence; undefined when all are in range. */
export function cronRangeProblem(expression: string): string | undefined {
  const parts = expression.trim().split(/\s+/);
  const fields = parts.length === 6 ? [SECOND, ...FIVE] : FIVE;
  if (parts.length !== fields.length) return undefined; // node-cron's own check reports the shape
  for (const [index, text] of parts.entries()) {
    for (const part of text.split(',')) {
      const problem = partProblem(fields[index], part);
      if (problem) return `${fields[index].name} field "${text}": ${problem}`;
    }
  }
  return undefined;
}
