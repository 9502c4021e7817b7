// A worker's sandbox slots: one per job BullMQ hands it (its concurrency), and the ones no job
// holds right now lent, one test at a time, to a job whose tests may run side by side
// (RunRequest.parallelTests, or a checker beside the next test's program).
//
// The rule is that a slot is one sandbox running: a job runs one sandbox at a time on its own slot
// and one more per borrowed slot, so the worker never runs more sandboxes than it has slots (and
// with CPU placement, cpu-placement.ts, each of them keeps a CPU of its own). Two things keep it:
//   - A borrow is for one test only: it is given back the moment that test ends. A borrow held
//     for the rest of the job (as it once was) kept the slot from the job BullMQ hands over next,
//     which then ran anyway — on a 2-slot worker, 3 sandboxes on 2 CPUs whenever a job arrived
//     while a slot was lent (test/e2e/parallel-tests.test.ts saw it), programs sharing a CPU.
//   - A job BullMQ hands over while one of its slots is lent waits for it (jobStarted resolves
//     when the borrowed test ends — one test at most), and no borrow is granted while a job
//     waits: a job with tests to spare competes for a free slot with the next job on equal terms,
//     never ahead of it for longer than one test.
// A borrow never waits: when every slot is held the job simply runs its tests one after the other.

export interface SpareSlots {
  /** Takes a free slot for one test (or one checker beside a program), or returns false at once when none is free. */
  tryBorrow(): boolean;
  /** Gives a borrowed slot back: as soon as the test it was taken for has ended. */
  giveBack(): void;
}

export class SlotLedger implements SpareSlots {
  /** Jobs started and not ended: those holding their slot and those waiting for it. */
  private jobs = 0;
  private borrowed = 0;
  /** Jobs waiting for a slot that a test of another job still has, first come first served. */
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly slots: number) {}

  /**
   * A job started: it holds a slot of its own until jobEnded. Resolves once that slot is free —
   * at once, unless a test of another job has it on loan (then when that test ends). From this
   * call on, no slot is lent until the job has its own.
   */
  jobStarted(): Promise<void> {
    this.jobs++;
    if (this.waiting.length === 0 && this.holding() + this.borrowed <= this.slots) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** A job ended (it held its slot: jobStarted had resolved). */
  jobEnded(): void {
    if (this.jobs > 0) this.jobs--;
    this.wake();
  }

  tryBorrow(): boolean {
    // Counting the jobs that wait too: while one waits, nothing is lent.
    if (this.jobs + this.borrowed >= this.slots) return false;
    this.borrowed++;
    return true;
  }

  giveBack(): void {
    if (this.borrowed > 0) this.borrowed--;
    this.wake();
  }

  /** Slots in use: one per job holding its own, one per borrowed slot (never more than the slots). */
  get inUse(): number {
    return this.holding() + this.borrowed;
  }

  /** Jobs waiting for their slot to come back from a borrowed test. */
  get jobsWaiting(): number {
    return this.waiting.length;
  }

  private holding(): number {
    return this.jobs - this.waiting.length;
  }

  /** Hands freed slots to waiting jobs, in the order they came. */
  private wake(): void {
    while (this.waiting.length > 0 && this.holding() + this.borrowed < this.slots) this.waiting.shift()!();
  }
}
