// The one logger: pino, one JSON object per line on stderr (a readable line on a terminal), every
// line passed through redact() so a secret never reaches a log, whatever a message or a vendor says.
import { pino, type DestinationStream, type Logger } from 'pino';
import { redact } from './redact.js';

export type { Logger } from 'pino';

const LEVEL_NAMES: Record<string, string> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR', fatal: 'FATAL' };
// Fields every line has, or that the readable format shows in its own place.
const SHOWN_APART = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'sync', 'runId', 'err']);

function formatValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /\s/.test(text) && typeof value === 'string' ? JSON.stringify(text) : text;
}

/** `12:00:01 INFO  [users #12] run finished sent=5 rejected=0`, from one JSON log line. */
export function readableLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : '';
  const level = LEVEL_NAMES[String(entry.level)] ?? String(entry.level).toUpperCase();
  const where = entry.sync ? ` [${String(entry.sync)}${entry.runId ? ` #${String(entry.runId)}` : ''}]` : '';
  const fields = Object.entries(entry)
    .filter(([key, value]) => !SHOWN_APART.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const err = entry.err as { message?: string; stack?: string } | undefined;
  const error = err ? `\n  ${err.stack ?? err.message ?? ''}` : '';
  return `${time} ${level}${where} ${String(entry.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}${error}\n`;
}

export interface LoggerOptions {
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
  /** Readable lines instead of JSON (default: when stderr is a terminal). */
  readable?: boolean;
  /** Default: BACKFLOW_LOG_LEVEL, else info. */
  level?: string;
}

// Set while a progress bar holds the terminal: lines go to it, to be printed above the bar.
let diverted: ((line: string) => void) | undefined;

/** Sends the process's log lines (of loggers writing to stderr) to `to` instead, until called with undefined. */
export function divertLogLines(to: ((line: string) => void) | undefined): void {
  diverted = to;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => void (diverted ? diverted(line) : process.stderr.write(line)));
  const readable = options.readable ?? Boolean(process.stderr.isTTY);
  // A synchronous destination: a line is out before the next statement, so an exit loses none.
  const destination: DestinationStream = {
    write(line: string) {
      const safe = redact(line);
      write(readable ? readableLine(safe) : safe);
    },
  };
  return pino(
    {
      level: options.level ?? process.env.BACKFLOW_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** The process's logger. */
export const logger: Logger = createLogger();

/** The logger for one run: every line names the sync and the run. */
export function runLogger(sync: string, runId?: number, parent: Logger = logger): Logger {
  return parent.child(runId === undefined ? { sync } : { sync, runId });
}
