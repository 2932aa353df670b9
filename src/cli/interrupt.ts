// Ctrl-C and SIGTERM during a command that sends: the first signal stops feeding and lets in-flight
// requests finish within a short grace period; a second signal, or the grace running out, ends the
// process at once (after the commits already queued, so every confirmed record stays committed).

/** How long in-flight requests may take to finish after the first signal. */
export const INTERRUPT_GRACE_MS = 10_000;

/** The shell's convention: 128 + the signal's number. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

export interface InterruptHandlers {
  /** The first signal: the run has been told to stop feeding. */
  stopping(signal: StopSignal, graceMs: number): void;
  /** Must end the process (it runs after the queued commits); `reason` says why it could not wait. */
  force(reason: string, exitCode: number): void;
}

export class Interrupt {
  private readonly controller = new AbortController();
  /** Aborted by the first signal: pass it to runSync. */
  readonly signal = this.controller.signal;
  received?: StopSignal;
  private grace?: NodeJS.Timeout;
  private readonly listeners = (Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]).map((name) => [name, () => this.on(name)] as const);

  constructor(
    private readonly handlers: InterruptHandlers,
    private readonly graceMs = INTERRUPT_GRACE_MS,
  ) {
    for (const [name, listener] of this.listeners) process.on(name, listener);
  }

  /** The exit code the command ends with when a signal stopped it. */
  get exitCode(): number | undefined {
    return this.received && SIGNAL_EXIT_CODES[this.received];
  }

  /** Back to Node's default handling (the command is done sending). */
  detach(): void {
    clearTimeout(this.grace);
    for (const [name, listener] of this.listeners) process.off(name, listener);
  }

  private on(name: StopSignal): void {
    if (this.received) {
      this.forceExit(`a second ${name}`);
      return;
    }
    this.received = name;
    this.controller.abort();
    this.handlers.stopping(name, this.graceMs);
    this.grace = setTimeout(() => this.forceExit(`in-flight requests did not finish within ${this.graceMs / 1000}s of ${name}`), this.graceMs);
    this.grace.unref();
  }

  private forceExit(reason: string): void {
    // setImmediate: after the commits already queued (each is a setImmediate), so none is lost.
    setImmediate(() => this.handlers.force(reason, this.exitCode ?? 1));
  }
}
