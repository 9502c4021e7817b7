// What this API process remembers about the submissions it accepted: the Judge0 request fields
// (echoed back by ?fields=, which RunResult does not carry). Bounded: the oldest entries are
// forgotten first. A token this process never saw (another API instance, or after a restart)
// still resolves through RunService, and GET /submissions lists from RunService; only the
// echoed request fields are then null.
import type { SubmissionEcho } from './submission-request.ts';

export class SubmissionStore {
  readonly #byToken = new Map<string, SubmissionEcho>();
  constructor(private readonly capacity: number) {}

  remember(token: string, echo: SubmissionEcho): void {
    this.#byToken.delete(token);
    this.#byToken.set(token, echo);
    while (this.#byToken.size > this.capacity) {
      const oldest = this.#byToken.keys().next().value as string;
      this.#byToken.delete(oldest);
    }
  }

  echo(token: string): SubmissionEcho | null {
    return this.#byToken.get(token) ?? null;
  }

  forget(token: string): void {
    this.#byToken.delete(token);
  }
}
