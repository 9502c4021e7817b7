// The in-process path of a session's requests (docs/sessions.md, "The cell in one process"): when
// the API and the worker holding a session run in one Node process (`corral up`), a request need
// not go through Redis to reach the worker and back. This is the port between the two: the API
// (SessionService) asks it whether the session is hosted here and live, and if so hands it the
// command and takes the replies; the worker's session host answers (worker/sessions/
// session-worker.ts). services/core knows no worker: bin/stack.ts connects the two, and only when
// both run in the process (CORRAL_SESSION_LOCAL_PATH, on by default). Every other case — the
// session on another worker or in another process, not ready yet, or fallen back to its input
// stream — takes the Redis relay (services/core/session-relay.ts) as before.
//
// Order: a command given here is in the host's hands when send() returns (the same queue the
// Redis path's commands join on arrival), so a later one, by either path, cannot overtake it. The
// other way round — a command this process sent by Redis, not yet arrived — is the caller's to
// keep: SessionService sends a session's next command by Redis while one it sent by Redis has not
// been answered (see there).
import type { KernelCommand } from './session-messages.ts';
import type { SessionCommand, SessionReply } from './session-protocol.ts';

/** One session hosted in this process, live and ready: its commands can be handed over directly. */
export interface LocalSession {
  /**
   * Hands the command to the session's host; `onReply` gets its replies in order (outputs of a
   * streamed cell, then one `done`), as the inbox would have given them. The record's fields an
   * answer changes (lastUsedAt, cells, usage) are written by the worker after the answer, off its
   * way (see written()).
   */
  send(command: SessionCommand, onReply: (reply: SessionReply) => void): void;
  /**
   * Hands a Jupyter client's message (the face: services/api/compat/jupyter/channels.ts) to the
   * session's message relay, into the same queue the relay's messages by Redis join; false when
   * the session has ended since it was found (the message is dropped, as a publish to a session
   * no longer live is). The kernel's answers come by the session's kernel stream (see listen).
   */
  sendKernel(command: KernelCommand): boolean;
  /**
   * Hands `onEntry` each entry the session's relay appends to its kernel stream from now on, with
   * the id it has there, as it is made (before Redis has it). `before`: the id of the last entry
   * appended before (those only the stream has). Until stop().
   */
  listen(onEntry: (id: string, entry: string) => void): { before: string; stop(): void };
}

export interface LocalSessions {
  /**
   * The session, when this process hosts it and it takes commands directly now: ready, not
   * ended, and none of its commands came by its input stream (a session that fell back to the
   * stream stays on the Redis path: see session-relay.ts). Undefined otherwise: use Redis.
   */
  find(id: string): LocalSession | undefined;
  /**
   * Resolves once the record writes this process's worker made for the session so far (an
   * answer's fields, a status) are in Redis; undefined when the session is not hosted here. A
   * read of the record after a local answer awaits it, so it sees what the answer changed, as it
   * would after an answer that came through Redis.
   */
  written(id: string): Promise<void> | undefined;
}

/** Several workers' sessions in one process (bin/stack.ts: a worker host each) as one port. */
export function localSessionsOf(ports: () => Iterable<LocalSessions | undefined>): LocalSessions {
  return {
    find(id) {
      for (const p of ports()) {
        const s = p?.find(id);
        if (s) return s;
      }
      return undefined;
    },
    written(id) {
      for (const p of ports()) {
        const w = p?.written(id);
        if (w) return w;
      }
      return undefined;
    },
  };
}
