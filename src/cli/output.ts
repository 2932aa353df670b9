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

/** A one-line status that rewrites itself on a TTY (stderr), and is silent elsewhere. */
export class StatusLine {
  private last = 0;
  private readonly enabled = Boolean(process.stderr.isTTY) && process.env.CI !== 'true';

  update(text: string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    process.stderr.write(`\r\x1b[2K${redact(text)}`);
  }

  done(): void {
    if (this.enabled) process.stderr.write('\r\x1b[2K');
  }
}
