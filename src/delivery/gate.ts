// A counting gate: at most `limit` holders at once; others wait in order.

/** What a destination needs of its concurrency bound: this process's Gate, or a fleet's shared slots. */
export interface Slots {
  readonly limit: number;
  enter(): Promise<void>;
  leave(): void;
}

export class Gate implements Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async enter(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  get inUse(): number {
    return this.active;
  }
}
