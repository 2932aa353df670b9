// Everything the CLI prints goes through here, so nothing reaches a terminal unredacted.
import { redact } from '../redact.js';

// Set once the reader of stdout went away (`backflow runs | head`): later output is dropped, so the
// command finishes its work (a sync still commits and records its run) and exits without a stack trace.
let stdoutClosed = false;

/** Turns EPIPE on stdout into quiet: called once by the entry point. */
export function dropOutputWhenStdoutCloses(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    stdoutClosed = true;
  });
}

function write(text: string): void {
  if (!stdoutClosed) process.stdout.write(text);
}

export function print(text = ''): void {
  write(`${redact(text)}\n`);
}

export function printError(text: string): void {
  process.stderr.write(`${redact(text)}\n`);
}

export function printJson(value: unknown): void {
  write(`${redact(JSON.stringify(value, null, 2))}\n`);
}

const numberFormat = new Intl.NumberFormat('en-US');
export const n = (value: number) => numberFormat.format(value);

/** Short JSON for a value in a diff line. */
export function show(value: unknown, max = 80): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A plain text table: columns padded to their widest cell. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column].length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** How many reasons a summary lists before pointing at the full list. */
const REASONS_SHOWN = 10;

/**
 * Records grouped by reason, one line a reason: a lone record keeps its own line (`key: reason`);
 * several say how many and show a few example keys with their values (`3,176 × reason; e.g. …`).
 */
export function describeReasons(
  symbol: string,
  label: string,
  groups: readonly { reason: string; count: number; examples: readonly { key: string; reason: string }[] }[],
  afterKey = ': ',
): string[] {
  const lines = groups.slice(0, REASONS_SHOWN).map((group) => {
    if (group.count === 1) return `  ${symbol} ${group.examples[0].key}${afterKey}${label}${group.examples[0].reason}`;
    // An example's own reason adds the value it held (`(got "Germany")`): show that part beside its key.
    const example = ({ key, reason }: { key: string; reason: string }) =>
      reason.startsWith(`${group.reason} `) ? `${key} ${reason.slice(group.reason.length + 1)}` : key;
    const more = group.count > group.examples.length ? ', …' : '';
    return `  ${symbol} ${n(group.count)} × ${label}${group.reason}; e.g. ${group.examples.map(example).join(', ')}${more}`;
  });
  const hidden = groups.length - REASONS_SHOWN;
  return hidden > 0 ? [...lines, `  … and ${n(hidden)} more reason${hidden === 1 ? '' : 's'}`] : lines;
}
