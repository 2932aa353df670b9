// `COPY (<query>) TO STDOUT` on a pg client, as a pg submittable (the interface pg-cursor uses):
// pg's own protocol parser hands over each row's line (one CopyData message) in the order the
// server sent it, decoded from UTF-8 at once (pg reuses the bytes of its read buffer), so every line that came before an error is still delivered ahead of the error.
// (pg-copy-streams drops the lines that share a socket read with the ErrorResponse.) The socket is
// paused while `highWater` lines wait, so the server waits for the reader rather than filling memory.
import type pg from 'pg';

/** What of pg's connection a COPY uses: its simple query, and its socket to pause. */
interface Connection {
  query(text: string): void;
  stream: { pause(): void; resume(): void };
}

/** The wait for the next batch took longer than allowed. */
export class CopyWaitTimeout extends Error {}

export class CopyOut implements pg.Submittable {
  private readonly lines: string[] = [];
  private ended = false;
  private failure: Error | undefined;
  private connection: Connection | undefined;
  private paused = false;
  /** How many lines the reader waits for, and how to wake it when they are there. */
  private wanted = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly text: string,
    private readonly highWater: number,
  ) {}

  submit(connection: unknown): void {
    this.connection = connection as Connection;
    this.connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    this.lines.push(message.chunk.toString('utf8'));
    if (!this.paused && this.lines.length >= this.highWater) {
      this.paused = true;
      this.connection!.stream.pause();
    }
    if (this.lines.length >= this.wanted) this.notify();
  }

  handleCommandComplete(): void {}

  /** The end of a COPY that succeeded (pg calls it once the server is ready for the next query). */
  handleReadyForQuery(): void {
    this.ended = true;
    this.notify();
  }

  /** The end of a COPY that failed: the server's error, or the lost connection. */
  handleError(error: Error): void {
    this.failure = error;
    this.notify();
  }

  /**
   * The next `count` lines; at the end, the lines left (fewer), then undefined. When the COPY failed,
   * the whole batches that arrived before the error come first, then the error: a batch is delivered
   * whole or not at all, as a FETCH of `count` rows is. Throws CopyWaitTimeout when the server sends
   * no batch within `timeoutMs` while the reader waits for it.
   */
  async next(count: number, timeoutMs: number): Promise<string[] | undefined> {
    if (!this.ready(count)) {
      this.wanted = count;
      const timedOut = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve(false);
        };
      });
      this.wake = undefined;
      if (timedOut) throw new CopyWaitTimeout(`no ${count} rows came within ${timeoutMs / 1000} s`);
    }
    if (this.lines.length >= count || (this.ended && this.lines.length > 0)) {
      const batch = this.lines.splice(0, count);
      if (this.paused && this.lines.length < this.highWater) {
        this.paused = false;
        this.connection!.stream.resume();
      }
      return batch;
    }
    if (this.failure) throw this.failure;
    return undefined;
  }

  private ready(count: number): boolean {
    return this.lines.length >= count || this.ended || this.failure !== undefined;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
