// Judge0's GET /workers from Corral's worker heartbeats. Judge0 reports one row per Resque queue
// (named after the Judge0 version) counting worker processes; a Corral sandbox slot plays the
// part of one Judge0 worker process.
import { JUDGE0_VERSION } from './info.ts';

/** What a worker heartbeat says (services/core/worker-directory.ts Heartbeat, structurally). */
export interface WorkerBeat {
  slots: number;
  active: number;
  selfTest: { ok: boolean };
}

export interface Judge0WorkersRow {
  queue: string;
  total: number;
  available: number;
  idle: number;
  working: number;
  paused: number;
  failed: number;
}

export function judge0Workers(beats: readonly WorkerBeat[]): Judge0WorkersRow[] {
  const ready = beats.filter((b) => b.selfTest.ok);
  const sum = (f: (b: WorkerBeat) => number, list: readonly WorkerBeat[]) => list.reduce((n, b) => n + Math.max(0, f(b)), 0);
  return [{
    queue: JUDGE0_VERSION,
    total: sum((b) => b.slots, beats),
    available: sum((b) => b.slots, ready),
    idle: sum((b) => b.slots - b.active, ready),
    working: sum((b) => b.active, beats),
    paused: 0,
    failed: sum((b) => b.slots, beats.filter((b) => !b.selfTest.ok)),
  }];
}
