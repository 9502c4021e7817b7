// A worker's sandbox slots that no job holds right now, lent to a job whose tests may run side by
// side (RunRequest.parallelTests): every job holds one slot (BullMQ's concurrency), and a
// borrowed slot is one more test of that job running at the same time. A borrow never waits:
// when every slot is busy the job simply runs its tests one after the other.

export interface SpareSlots {
  /** Takes a free slot, or returns false at once when none is free. */
  tryBorrow(): boolean;
  /** Gives a borrowed slot back. */
  giveBack(): void;
}

export class SlotLedger implements SpareSlots {
  private jobs = 0;
  private borrowed = 0;

  constructor(private readonly slots: number) {}

  /** A job started (it holds a slot of its own until jobEnded). */
  jobStarted(): void {
    this.jobs++;
  }

  jobEnded(): void {
    this.jobs--;
  }

  tryBorrow(): boolean {
    if (this.jobs + this.borrowed >= this.slots) return false;
    this.borrowed++;
    return true;
  }

  giveBack(): void {
    if (this.borrowed > 0) this.borrowed--;
  }

  /** Slots in use: one per job, one per borrowed slot. */
  get inUse(): number {
    return this.jobs + this.borrowed;
  }
}
