// One notebook cell over a KernelChannel: execute_request out; this cell's outputs (iopub
// messages whose parent is the request), its execute_reply and the kernel's idle status in.
// Cells of one channel run one at a time, in call order. A cell over its time is interrupted
// (KeyboardInterrupt) and answered as a timeout; a kernel that does not stop within the
// interrupt grace is restarted, so the next cell finds a usable kernel either way.
//
// Two ways to fail, kept apart: what the code did (an exception, a timeout, a kernel that died,
// e.g. of its memory limit) is a CellResult; a channel that is closed, or closes during the cell,
// throws ChannelClosedError (the session is over).
import { ChannelClosedError, KernelStartError, type KernelChannel } from './kernel-channel.ts';
import type { BridgeFrame } from './frame-codec.ts';
import { executeReplyOf, executeRequest, outputOf, parentMsgId, statusOf, type CellOutput, type ExecuteReply } from './jupyter-messages.ts';

const MiB = 1024 * 1024;

export interface ExecuteOptions {
  /** The cell's wall time from the request's sending (default 30 s). */
  timeoutMs?: number;
  /** After a timed-out cell's interrupt: how long the kernel has to answer before it is restarted. */
  interruptGraceMs?: number;
  /** After the execute_reply: how long to wait for the kernel's idle status (the end of its outputs). */
  idleGraceMs?: number;
  /** Output kept for the result, in message bytes; past it outputs are dropped (outputsTruncated). */
  maxOutputBytes?: number;
}

export type CellStatus =
  /** The code ran to its end. */
  | 'ok'
  /** It raised: `error` has the exception. */
  | 'error'
  /** The kernel did not run it (its execute_reply says aborted). */
  | 'aborted'
  /** It ran over timeoutMs and was interrupted (or, when that did not stop it, the kernel restarted). */
  | 'timeout'
  /** The kernel process ended during the cell (e.g. killed at the memory limit); restart() brings a new one. */
  | 'kernel_died'
  /** The kernel was restarted during the cell by someone else. */
  | 'kernel_restarted';

export interface CellResult {
  status: CellStatus;
  executionCount: number | null;
  /** In the order the kernel sent them; consecutive stream outputs of one name are joined. */
  outputs: CellOutput[];
  error?: { ename: string; evalue: string; traceback: string[] };
  /** Outputs were dropped: over maxOutputBytes, or too big for a line (the bridge dropped them). */
  outputsTruncated: boolean;
  /** Messages for this cell that did not fit their type's schema (ignored). */
  invalidMessages: number;
  /** The kernel was restarted to end this cell: its state is gone. */
  kernelRestarted: boolean;
  /** How the kernel process ended, for kernel_died. */
  kernelExit?: { code: number | null; signal: number | null; stderr: string };
  wallMs: number;
}

const DEFAULTS = { timeoutMs: 30_000, interruptGraceMs: 5_000, idleGraceMs: 2_000, maxOutputBytes: 16 * MiB };

/** The tail of each channel's queue of cells. */
const lastCell = new WeakMap<KernelChannel, Promise<unknown>>();

/** Runs `code` as the channel's next cell (after the ones already asked for). */
export function executeCell(channel: KernelChannel, code: string, options: ExecuteOptions = {}): Promise<CellResult> {
  const before = lastCell.get(channel) ?? Promise.resolve();
  const mine = before.catch(() => {}).then(() => runCell(channel, code, { ...DEFAULTS, ...options }));
  lastCell.set(channel, mine);
  return mine;
}

function runCell(channel: KernelChannel, code: string, opts: Required<ExecuteOptions>): Promise<CellResult> {
  const started = performance.now();
  const request = executeRequest(code, channel.session);
  const msgId = request.header.msg_id;
  const result: CellResult = { status: 'ok', executionCount: null, outputs: [], outputsTruncated: false, invalidMessages: 0, kernelRestarted: false, wallMs: 0 };
  let outputBytes = 0;
  let reply: ExecuteReply | undefined;
  let idle = false;
  let timedOut = false;

  return new Promise<CellResult>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = () => {};
    let unwatch = () => {};
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      unsubscribe();
      unwatch();
      result.wallMs = Math.round((performance.now() - started) * 100) / 100;
      if (err) reject(err);
      else resolve(result);
    };
    const whenBoth = () => {
      if (!reply || !idle) return;
      applyReply(result, reply);
      if (timedOut) timeoutError(result, opts.timeoutMs);
      finish();
    };

    const onFrame = (frame: BridgeFrame) => {
      if (frame.kind === 'event') {
        if (frame.ev === 'kernel_exited') {
          result.status = 'kernel_died';
          result.kernelExit = { code: frame.code, signal: frame.signal, stderr: frame.stderr ?? '' };
          finish();
        } else if (frame.ev === 'restarted' && !result.kernelRestarted) {
          result.status = 'kernel_restarted';
          finish();
        } else if (frame.ev === 'dropped' && frame.parent_msg_id === msgId) {
          result.outputsTruncated = true;
        }
        return;
      }
      if (parentMsgId(frame.msg) !== msgId) return;
      if (frame.ch === 'shell') {
        const r = executeReplyOf(frame.msg);
        if (!r) {
          if (frame.msg.header.msg_type === 'execute_reply') result.invalidMessages++;
          return;
        }
        reply ??= r;
        // The idle status normally comes within milliseconds of the reply; one the kernel's
        // iopub queue dropped must not hold the cell forever. Outputs still on their way (a
        // huge one the bridge is still encoding, a slow machine) are then not in the result:
        // it says so, rather than look complete.
        if (!idle) timers.push(setTimeout(() => { idle = true; result.outputsTruncated = true; whenBoth(); }, opts.idleGraceMs));
        return whenBoth();
      }
      if (frame.ch !== 'iopub') return;
      const state = statusOf(frame.msg);
      if (state === 'idle') {
        idle = true;
        return whenBoth();
      }
      if (frame.msg.header.msg_type === 'execute_input') {
        const n = frame.msg.content.execution_count;
        if (Number.isSafeInteger(n)) result.executionCount = n as number;
        return;
      }
      const out = outputOf(frame.msg);
      if (out === null) return;
      if (out === 'invalid') {
        result.invalidMessages++;
        return;
      }
      const bytes = approxBytes(out);
      if (outputBytes + bytes > opts.maxOutputBytes) {
        result.outputsTruncated = true;
        return;
      }
      outputBytes += bytes;
      append(result.outputs, out);
    };

    if (channel.kernelExit && !channel.isClosed) {
      // No kernel to run it: say so now rather than after the timeout.
      result.status = 'kernel_died';
      result.kernelExit = channel.kernelExit;
      return finish();
    }
    unsubscribe = channel.subscribe(onFrame);
    unwatch = channel.onClose((reason) => finish(new ChannelClosedError(reason)));
    try {
      channel.send('shell', request);
    } catch (err) {
      return finish(err as Error);
    }

    timers.push(setTimeout(() => {
      if (finished) return;
      timedOut = true;
      try {
        channel.interrupt();
      } catch (err) {
        return finish(err as Error);
      }
      timers.push(setTimeout(() => {
        if (finished) return;
        // The interrupt did not end it (SIGINT ignored, or stuck in C code): a fresh kernel.
        result.kernelRestarted = true;
        unsubscribe();
        const answer = () => {
          timeoutError(result, opts.timeoutMs);
          result.outputs.push({ type: 'error', ...result.error! });
          finish();
        };
        channel.restart().then(answer, (err: Error) => {
          if (!(err instanceof KernelStartError)) return finish(err);
          // The old kernel is gone and the new one did not start: the cell still timed out.
          result.kernelRestarted = false;
          result.kernelExit = err.exit;
          answer();
        });
      }, opts.interruptGraceMs));
    }, opts.timeoutMs));
  });
}

function applyReply(result: CellResult, reply: ExecuteReply): void {
  result.status = reply.status;
  if (reply.execution_count !== null) result.executionCount = reply.execution_count;
  if (reply.status === 'error') result.error = { ename: reply.ename, evalue: reply.evalue, traceback: reply.traceback };
}

function timeoutError(result: CellResult, timeoutMs: number): void {
  result.status = 'timeout';
  result.error = { ename: 'CellTimeout', evalue: `the cell ran over its time limit of ${timeoutMs} ms and was interrupted`, traceback: [] };
}

/** About what an output costs to hold (its text and data, as UTF-16 strings count). */
function approxBytes(out: CellOutput): number {
  switch (out.type) {
    case 'stream': return out.text.length;
    case 'error': return out.ename.length + out.evalue.length + out.traceback.reduce((n, l) => n + l.length, 0);
    case 'clear_output': return 16;
    default: return JSON.stringify(out.data).length + JSON.stringify(out.metadata).length;
  }
}

/** Adds an output, joining it to the previous one when both are the same stream. */
function append(outputs: CellOutput[], out: CellOutput): void {
  const last = outputs.at(-1);
  if (out.type === 'stream' && last?.type === 'stream' && last.name === out.name) {
    outputs[outputs.length - 1] = { ...last, text: last.text + out.text };
    return;
  }
  outputs.push(out);
}
