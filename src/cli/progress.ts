// `sync`'s progress on a terminal: a bar drawn by cli-progress on stderr, with the total when it is
// known (a saved plan), records per second and the time left; log lines go above it, never into it.
// Off unless both stdout and stderr are terminals (and not under CI, nor with --json).
import cliProgress from 'cli-progress';
import type { RunCounts } from '../engine/sync.js';
import { divertLogLines } from '../log.js';
import { n } from './output.js';

/** Whether a bar may be drawn: an interactive terminal reads both streams, and output is for people. */
export function progressWanted(json: boolean | undefined): boolean {
  return !json && Boolean(process.stdout.isTTY) && Boolean(process.stderr.isTTY) && process.env.CI !== 'true';
}

/** Records that reached their end in this run: settled by the destination, or needing nothing. */
function done(counts: RunCounts): number {
  return counts.sent + counts.rejected + counts.failed + counts.unchanged + counts.invalid;
}

function describeCounts(c: RunCounts): string {
  return `sent ${n(c.sent)} · rejected ${n(c.rejected)} · failed ${n(c.failed)} · unchanged ${n(c.unchanged)} · invalid ${n(c.invalid)}`;
}

export class SyncProgress {
  private bars?: cliProgress.MultiBar;
  private bar?: cliProgress.SingleBar;
  private total?: number;
  private startedAt = 0;

  constructor(private readonly enabled: boolean) {}

  /** Starts the bar of one sync; `total` is how many records it will handle, when known (a saved plan). */
  start(sync: string, total?: number): void {
    if (!this.enabled) return;
    this.startedAt = Date.now();
    this.total = total;
    // A known total gets a bar, a percentage and an ETA; a source read of unknown size gets counts and a rate.
    const format =
      total !== undefined
        ? `${sync} [{bar}] {percentage}% | {done} of {all} records | {rate} records/s | ETA {eta_formatted} | {counts}`
        : `${sync}: read {read} | {rate} records/s | {counts}`;
    // clearOnComplete: the summary that follows says it all, and no half line is left behind.
    this.bars = new cliProgress.MultiBar({
      stream: process.stderr,
      format,
      clearOnComplete: true,
      hideCursor: true,
      etaBuffer: 50,
      fps: 10,
      barCompleteChar: '█',
      barIncompleteChar: '░',
    });
    const none = { sent: 0, rejected: 0, failed: 0, unchanged: 0, invalid: 0 } as RunCounts;
    this.bar = this.bars.create(Math.max(total ?? 0, 1), 0, { done: '0', all: n(total ?? 0), read: '0', rate: '0', counts: describeCounts(none) });
    // Drawn at once, not at the first tick: a short run shows its bar too.
    this.bars.update();
    // While the bar is drawn, the logger hands its lines to cli-progress, which prints them above it.
    const bars = this.bars;
    divertLogLines((line) => bars.log(line.endsWith('\n') ? line : `${line}\n`));
  }

  update(counts: RunCounts): void {
    if (!this.bar) return;
    const settled = done(counts);
    const seconds = (Date.now() - this.startedAt) / 1000;
    this.bar.update(this.total === undefined ? 0 : Math.min(settled, this.total), {
      done: n(settled),
      read: n(counts.read),
      rate: n(seconds > 0 ? Math.round(settled / seconds) : 0),
      counts: describeCounts(counts),
    });
  }

  /** Removes the bar, after printing the log lines it still held, so what follows starts on a clean line. */
  stop(): void {
    if (!this.bars) return;
    divertLogLines(undefined);
    // A last redraw prints the buffered log lines; stop() alone would drop them.
    this.bars.update();
    this.bars.stop();
    this.bars = undefined;
    this.bar = undefined;
  }
}
