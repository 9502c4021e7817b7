// A real ipykernel in a real Corral container, through the kernel bridge and KernelChannel:
// state across cells, rich outputs (PNG plots, HTML tables), tracebacks, interrupt, timeout,
// restart, a kernel killed at its memory limit, and a cell that turns on the bridge. Skipped with
// the reason when the python image of this checkout is not built.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { executeCell, type CellResult } from '../../worker/sessions/execute-cell.ts';
import { ChannelClosedError, KernelStartError } from '../../worker/sessions/kernel-channel.ts';
import type { CellOutput } from '../../worker/sessions/jupyter-messages.ts';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { kernelImage, openSession, type KernelImage, type Session } from './helpers.ts';

const image = kernelImage();
const skip = 'skip' in image ? image.skip : false;
if (skip) console.log(`# kernel session tests skipped: ${skip}`);
const img = image as KernelImage;
const openFds = () => readdirSync('/proc/self/fd').length;

/** The text of the cell's stdout stream outputs. */
const stdout = (r: CellResult) => r.outputs.filter((o): o is Extract<CellOutput, { type: 'stream' }> => o.type === 'stream' && o.name === 'stdout').map((o) => o.text).join('');
const plain = (r: CellResult) => {
  const res = r.outputs.find((o) => o.type === 'execute_result');
  return res?.type === 'execute_result' ? res.data['text/plain'] : undefined;
};
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const show = (r: CellResult) => JSON.stringify(r).slice(0, 2000);

describe('kernel sessions (real ipykernel in the sandbox)', { skip }, () => {
  let fdsBefore: number;
  before(() => { fdsBefore = openFds(); });
  expectNothingLeftBehind('a kernel session left something behind');
  after(() => assert.equal(openFds(), fdsBefore, 'a pipe end was left open in the worker'));

  describe('one session across cells', () => {
    let s: Session;
    before(async () => {
      s = await openSession(img);
      await s.channel.ready;
    });
    after(async () => {
      const reason = await s.end();
      assert.equal(reason.code, 'closed', JSON.stringify(reason));
    });

    it('keeps a variable, an import and a file in /box across cells', async () => {
      let r = await executeCell(s.channel, 'import math\nx = 41\nopen("/box/notes.txt", "w").write("kept")');
      assert.equal(r.status, 'ok', show(r));
      r = await executeCell(s.channel, 'x + 1');
      assert.equal(plain(r), '42', show(r));
      r = await executeCell(s.channel, 'print(math.sqrt(16), open("/box/notes.txt").read())');
      assert.equal(stdout(r), '4.0 kept\n', show(r));
      const onHost = await s.volume.readFile('notes.txt', 100);
      assert.equal(onHost?.data.toString(), 'kept');
      assert.ok((r.executionCount ?? 0) >= 3, show(r));
    });

    it('returns a matplotlib plot as image/png display_data', async () => {
      const r = await executeCell(s.channel, 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()', { timeoutMs: 120_000 });
      assert.equal(r.status, 'ok', show(r));
      const shown = r.outputs.find((o) => o.type === 'display_data');
      assert.ok(shown?.type === 'display_data', show(r));
      const png = Buffer.from(String(shown.data['image/png']), 'base64');
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
      assert.ok(png.length > 1000, `a PNG of ${png.length} bytes`);
    });

    it('returns a pandas DataFrame as text/html', async () => {
      const r = await executeCell(s.channel, 'import pandas as pd\npd.DataFrame({"a": [1, 2], "b": ["x", "y"]})', { timeoutMs: 60_000 });
      assert.equal(r.status, 'ok', show(r));
      const res = r.outputs.find((o) => o.type === 'execute_result');
      assert.ok(res?.type === 'execute_result', show(r));
      assert.match(String(res.data['text/html']), /<table[\s\S]*<td>x<\/td>/);
      assert.match(String(res.data['text/plain']), /a\s+b/);
    });

    it('answers an exception with its name, value and traceback', async () => {
      const r = await executeCell(s.channel, 'def f():\n    return 1 / 0\nf()');
      assert.equal(r.status, 'error', show(r));
      assert.equal(r.error?.ename, 'ZeroDivisionError');
      assert.equal(r.error?.evalue, 'division by zero');
      // IPython colours its tracebacks (ANSI escapes), as Jupyter front ends expect.
      assert.ok(r.error!.traceback.some((l) => stripAnsi(l).includes('return 1 / 0')), show(r));
      const out = r.outputs.find((o) => o.type === 'error');
      assert.ok(out?.type === 'error' && out.ename === 'ZeroDivisionError', show(r));
    });

    it('runs the cell after an error (the kernel is not left aborting)', async () => {
      for (let i = 0; i < 5; i++) {
        const [bad, next] = await Promise.all([executeCell(s.channel, 'raise ValueError("no")'), executeCell(s.channel, '1 + 1')]);
        assert.equal(bad.status, 'error', show(bad));
        assert.equal(next.status, 'ok', show(next));
        assert.equal(plain(next), '2');
      }
    });

    it('passes on stdout and stderr as streams', async () => {
      const r = await executeCell(s.channel, 'import sys\nprint("to out")\nprint("to err", file=sys.stderr)');
      assert.equal(r.status, 'ok', show(r));
      assert.equal(stdout(r), 'to out\n');
      assert.ok(r.outputs.some((o) => o.type === 'stream' && o.name === 'stderr' && o.text === 'to err\n'), show(r));
    });

    // The bridge's launcher skips ipykernel's end-of-cell flush of a stream nothing was written to
    // (kernel-bridge.py, IPYKERNEL_LAUNCHER). Written-to streams must still be flushed before the
    // cell's idle: output without a newline is otherwise sent by ipykernel's 0.2 s flush timer,
    // after the cell was answered — so a skip too eager loses it from the result.
    it('flushes what a cell wrote last, without a newline, before answering it; an unwritten stream skips the flush', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await executeCell(s.channel, `import sys\nprint("a${i}")\nsys.stdout.write("tail${i}")\nsys.stderr.write("err${i}")`);
        assert.equal(r.status, 'ok', show(r));
        assert.equal(stdout(r), `a${i}\ntail${i}`, show(r));
        assert.ok(r.outputs.some((o) => o.type === 'stream' && o.name === 'stderr' && o.text === `err${i}`), show(r));
        // The next cell, which writes nothing, finds both streams flushed and unmarked: the skip is in place.
        const quiet = await executeCell(s.channel, '(getattr(sys.stdout, "_corral_unflushed", "no patch"), getattr(sys.stderr, "_corral_unflushed", "no patch"))');
        assert.equal(plain(quiet), '(False, False)', show(quiet));
      }
    });

    // The launcher sends iopub messages from the thread that makes them, not through ipykernel's
    // iopub thread (kernel-bridge.py, IPYKERNEL_LAUNCHER, change 2). Stream output still leaves
    // from the iopub thread, so a display or the result must wait for the flush of what was
    // printed before it, or it overtakes it.
    it('keeps a cell\'s outputs in order: printed text, displays and the result', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await executeCell(s.channel, `from IPython.display import display\nprint("one${i}")\ndisplay("shown${i}")\nprint("two${i}", end="")\ndisplay("again${i}")\n${i} + 40`);
        assert.equal(r.status, 'ok', show(r));
        const seen = r.outputs.map((o) => o.type === 'stream' ? `${o.name}:${o.text}` : o.type === 'error' || o.type === 'clear_output' ? o.type : `${o.type}:${String(o.data['text/plain'])}`);
        assert.deepEqual(seen, [`stdout:one${i}\n`, `display_data:'shown${i}'`, `stdout:two${i}`, `display_data:'again${i}'`, `execute_result:${i + 40}`], show(r));
      }
    });

    it('output of forked children arrives whole while the cell\'s thread displays (the iopub thread forwards it under the send lock)', async () => {
      // The children's prints come to the iopub thread over ipykernel's pipe and it sends them on
      // the socket the cell's thread sends its displays on: both take the launcher's lock. Without
      // it the two threads can use one zmq socket at once — messages lost or the kernel aborted.
      const r = await executeCell(s.channel, [
        'import multiprocessing as mp, sys',
        'from IPython.display import display',
        'def child(n):',
        '    for j in range(50):',
        '        print(f"child{n}-{j}")',
        '    sys.stdout.flush()',
        'procs = [mp.get_context("fork").Process(target=child, args=(n,)) for n in range(3)]',
        'for p in procs: p.start()',
        'for j in range(200): display(j)',
        'for p in procs: p.join()',
        'import time; time.sleep(0.3)',
        'print("parent done")',
        '[p.exitcode for p in procs]',
      ].join('\n'), { timeoutMs: 60_000 });
      assert.equal(r.status, 'ok', show(r));
      assert.equal(plain(r), '[0, 0, 0]', show(r));
      const shown = r.outputs.filter((o) => o.type === 'display_data').map((o) => o.type === 'display_data' ? String(o.data['text/plain']) : '');
      assert.deepEqual(shown, Array.from({ length: 200 }, (_, j) => String(j)), 'every display, in order');
      // A child's print is two writes (the text, then its newline), each piped to the parent on a
      // socket of its own (ipykernel: a new one per write), so pieces interleave and even one
      // child's may swap; each comes once, whole.
      const printed = stdout(r);
      for (let n = 0; n < 3; n++) {
        const seen = (printed.match(new RegExp(`child${n}-\\d+`, 'g')) ?? []).map((t) => Number(t.split('-')[1])).sort((a, b) => a - b);
        assert.deepEqual(seen, Array.from({ length: 50 }, (_, j) => j), `child ${n}'s lines, each once`);
      }
      assert.match(printed, /parent done\n$/, show(r));
    });

    it('the kernel runs with the launcher\'s round-trip changes: direct iopub sends, no reply sleep, fast header dates', async () => {
      // A display from the cell's thread schedules nothing on the iopub thread (ipykernel's own
      // send_multipart schedules every message there), and the reply sleep is off.
      const direct = await executeCell(s.channel, [
        'from IPython.display import display',
        'io_thread = get_ipython().kernel.iopub_socket.io_thread',
        'scheduled = []',
        'io_thread.schedule = lambda f, _s=io_thread.schedule: (scheduled.append(f), _s(f))[1]',
        'try:',
        '    display("direct")',
        'finally:',
        '    del io_thread.schedule',
        '(len(scheduled), get_ipython().kernel._execute_sleep)',
      ].join('\n'));
      assert.equal(plain(direct), '(0, 0.0)', show(direct));
      assert.ok(direct.outputs.some((o) => o.type === 'display_data' && o.data['text/plain'] === "'direct'"), show(direct));
      // Header dates: what dateutil gave, through fromisoformat (its UTC is datetime.timezone.utc,
      // dateutil's is tzutc()); a naive date or not a date at all goes the old way.
      const dates = await executeCell(s.channel, [
        'import datetime, warnings',
        'from dateutil.parser import parse',
        'from jupyter_client import jsonutil',
        'forms = ["2026-12-07T11:01:04.123Z", "2026-12-07T11:01:04Z", "2026-12-07T11:01:04.1+02:00", "2026-12-07T11:01:04.123456-0530"]',
        'same = all(jsonutil.parse_date(f) == parse(f) for f in forms)',
        'with warnings.catch_warnings():',
        '    warnings.simplefilter("ignore")',
        '    naive = jsonutil.parse_date("2026-12-07T11:01:04").tzinfo is not None',
        'fast = jsonutil.parse_date("2026-12-07T11:01:04Z").tzinfo is datetime.timezone.utc',
        'parent = type(get_ipython().kernel.get_parent()["header"]["date"]).__name__',
        '(same, naive, fast, jsonutil.parse_date("not a date"), parent)',
      ].join('\n'));
      assert.equal(plain(dates), "(True, True, True, 'not a date', 'datetime')", show(dates));
    });

    // Sent from the cell's thread, a message can be hit by an interrupt between two of its parts
    // (an interrupt racing a cell's start or end, as `interrupt` sent until the cell answers
    // does): without the launcher's hold, KeyboardInterrupt leaves half a message on the socket
    // and the next message is appended to it — the bridge drops both, and the display below is lost.
    it('an interrupt in the middle of an iopub message is held until it is out; the cell then sees KeyboardInterrupt', async () => {
      const r = await executeCell(s.channel, [
        'import os, signal, zmq',
        'from IPython.display import display',
        'io_thread = get_ipython().kernel.iopub_socket.io_thread',
        'class InterruptedMidMessage:',
        '    def __init__(self, real):',
        '        self.real = real',
        '    def send_multipart(self, parts, flags=0, **kwargs):',
        '        self.real.send(parts[0], flags | zmq.SNDMORE, **kwargs)',
        '        os.kill(os.getpid(), signal.SIGINT)',
        '        for part in parts[1:-1]:',
        '            self.real.send(part, flags | zmq.SNDMORE, **kwargs)',
        '        self.real.send(parts[-1], flags, **kwargs)',
        'real = io_thread.socket',
        'io_thread.socket = InterruptedMidMessage(real)',
        'try:',
        '    display("held")',
        'finally:',
        '    io_thread.socket = real',
      ].join('\n'));
      assert.equal(r.status, 'error', show(r));
      assert.equal(r.error?.ename, 'KeyboardInterrupt', show(r));
      assert.ok(r.outputs.some((o) => o.type === 'display_data' && o.data['text/plain'] === "'held'"), show(r));
      assert.ok(r.outputs.some((o) => o.type === 'error' && o.ename === 'KeyboardInterrupt'), show(r));
      assert.equal(r.invalidMessages, 0, show(r));
      const next = await executeCell(s.channel, '1 + 1');
      assert.equal(plain(next), '2', show(next));
    });

    // An interrupt sent as a cell starts can land in ipykernel's handler before the cell's code
    // runs, or in IPython's steps around it: ipykernel's own launcher then sends no execute_reply,
    // and the cell waits for its timeout and a kernel restart (its state lost). Each case is made
    // here by a one-shot hook that interrupts the kernel at that point.
    it('an interrupt before the cell\'s code is dropped, one in IPython\'s steps around it is the cell\'s KeyboardInterrupt; both are answered', async () => {
      const hook = (target: string, method: string) => executeCell(s.channel, [
        'import os, signal',
        `target = ${target}`,
        `def once(*args, _original=target.${method}):`,
        `    del target.${method}`,
        '    os.kill(os.getpid(), signal.SIGINT)',
        '    return _original(*args)',
        `target.${method} = once`,
      ].join('\n'));
      let r = await hook('get_ipython().kernel', '_publish_execute_input');
      assert.equal(r.status, 'ok', show(r));
      r = await executeCell(s.channel, '1 + 1', { timeoutMs: 15_000, interruptGraceMs: 2000 });
      assert.equal(r.status, 'ok', show(r));
      assert.equal(plain(r), '2', show(r));
      r = await hook('get_ipython()', 'transform_cell');
      assert.equal(r.status, 'ok', show(r));
      r = await executeCell(s.channel, '1 + 1', { timeoutMs: 15_000, interruptGraceMs: 2000 });
      assert.equal(r.status, 'error', show(r));
      assert.equal(r.error?.ename, 'KeyboardInterrupt', show(r));
      assert.equal(r.kernelRestarted, false, show(r));
      r = await executeCell(s.channel, 'x');
      assert.equal(plain(r), '41', 'the kernel and its state live on');
    });

    it('runs cells asked for at once one at a time, in order', async () => {
      const results = await Promise.all(['y = 1', 'y += 1', 'y *= 10', 'y'].map((code) => executeCell(s.channel, code)));
      assert.equal(plain(results[3]!), '20', show(results[3]!));
      const counts = results.map((r) => r.executionCount!);
      assert.deepEqual(counts, [...counts].sort((a, b) => a - b));
    });

    it('interrupts `while True: pass` with KeyboardInterrupt; the kernel and its state live on', async () => {
      const running = executeCell(s.channel, 'while True: pass', { timeoutMs: 120_000 });
      // Interrupt once the kernel says it is busy with the cell.
      await new Promise<void>((resolve) => {
        const off = s.channel.subscribe((f) => {
          if (f.kind === 'message' && f.ch === 'iopub' && f.msg.header.msg_type === 'execute_input') {
            off();
            setTimeout(resolve, 200);
          }
        });
      });
      s.channel.interrupt();
      const r = await running;
      assert.equal(r.status, 'error', show(r));
      assert.equal(r.error?.ename, 'KeyboardInterrupt');
      const after = await executeCell(s.channel, 'x')
      assert.equal(plain(after), '41', show(after));
    });

    it('answers a cell over its time with a timeout error, and the kernel stays usable', async () => {
      const r = await executeCell(s.channel, 'import time\nprint("started", flush=True)\nwhile True: time.sleep(0.01)', { timeoutMs: 1500 });
      assert.equal(r.status, 'timeout', show(r));
      assert.equal(r.error?.ename, 'CellTimeout');
      assert.equal(r.kernelRestarted, false, 'the interrupt was enough');
      assert.equal(stdout(r), 'started\n', 'what it printed before is kept');
      assert.ok(r.outputs.some((o) => o.type === 'error' && o.ename === 'KeyboardInterrupt'), show(r));
      const after = await executeCell(s.channel, 'x');
      assert.equal(plain(after), '41', show(after));
    });

    it('restarts a kernel that ignores the interrupt, and answers the cell with a timeout', async () => {
      const r = await executeCell(s.channel, 'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass',
        { timeoutMs: 1500, interruptGraceMs: 1000 });
      assert.equal(r.status, 'timeout', show(r));
      assert.equal(r.kernelRestarted, true);
      const after = await executeCell(s.channel, 'print("x" in globals(), open("/box/notes.txt").read())');
      assert.equal(stdout(after), 'False kept\n', 'a fresh kernel; the files are kept');
    });
  });

  it('restart(): the kernel state is gone, the files in /box are kept', async () => {
    const s = await openSession(img);
    try {
      const first = await s.channel.ready;
      await executeCell(s.channel, 'v = "old"\nopen("data.csv", "w").write("a,b\\n1,2\\n")');
      const second = await s.channel.restart();
      assert.notEqual(second.pid, undefined);
      assert.equal(first.kernelInfo.implementation, 'ipython');
      const r = await executeCell(s.channel, 'v');
      assert.equal(r.status, 'error', show(r));
      assert.equal(r.error?.ename, 'NameError');
      const f = await executeCell(s.channel, 'import pandas as pd\nprint(pd.read_csv("data.csv")["b"].sum())', { timeoutMs: 60_000 });
      assert.equal(stdout(f), '2\n', show(f));
    } finally {
      await s.end();
    }
  });

  it('another kernel argv: one that cannot start closes the channel at once with its stderr (start_failed)', async () => {
    const s = await openSession(img, {
      kernelArgv: ['python3', '-c', 'import sys; sys.stderr.write("no kernel here: " + sys.argv[1] + "\\n"); sys.exit(3)', '{connection_file}'],
    });
    try {
      await assert.rejects(s.channel.ready, (err: Error) => err instanceof ChannelClosedError && err.reason.code === 'start_failed'
        && /exit code 3\): no kernel here: \/tmp\/corral-kernel-[^/]+\/kernel\.json/.test(err.reason.message));
    } finally {
      const reason = await s.end();
      assert.equal(reason.code, 'start_failed');
    }
  });

  it('a restart whose kernel cannot start rejects with its stderr; the channel stays open for another', async () => {
    const s = await openSession(img);
    try {
      await s.channel.ready;
      // Like Jupyter, the kernel imports with /box first on sys.path: a zmq.py there breaks the
      // next kernel's start (this one removes itself, so the restart after works).
      await executeCell(s.channel, 'open("zmq.py", "w").write("import os\\nos.remove(\'/box/zmq.py\')\\nraise ImportError(\'shadowed by /box/zmq.py\')\\n")');
      await assert.rejects(s.channel.restart(), (err: Error) => err instanceof KernelStartError && /shadowed by \/box\/zmq\.py/.test(err.exit.stderr));
      assert.equal(s.channel.isClosed, false);
      const dead = await executeCell(s.channel, '1');
      assert.equal(dead.status, 'kernel_died');
      await s.channel.restart();
      const r = await executeCell(s.channel, '2 + 2');
      assert.equal(plain(r), '4', show(r));
    } finally {
      await s.end();
    }
  });

  it('a cell over the memory limit kills the kernel, the answer says so, and restart() brings a new one', async () => {
    const s = await openSession(img, { limits: { memoryBytes: 256 * 1024 * 1024, wallMs: 5 * 60_000, cpuMs: 5 * 60_000 } });
    try {
      await s.channel.ready;
      const r = await executeCell(s.channel, 'blob = b"x" * (1024 ** 3)', { timeoutMs: 60_000 });
      assert.equal(r.status, 'kernel_died', show(r));
      assert.equal(r.kernelExit?.signal, 9, show(r));
      const dead = await executeCell(s.channel, '1');
      assert.equal(dead.status, 'kernel_died', 'no kernel until restart(): said at once, not after a timeout');
      await s.channel.restart();
      const after = await executeCell(s.channel, '6 * 7');
      assert.equal(plain(after), '42', show(after));
    } finally {
      await s.end();
    }
  });

  it('an output too big for a line is dropped by the bridge; the cell says truncated, the session lives on', async () => {
    const s = await openSession(img, { caps: { maxLineBytes: 256 * 1024 } });
    try {
      await s.channel.ready;
      const r = await executeCell(s.channel, 'from IPython.display import display, HTML\ndisplay(HTML("x" * 1_000_000))\nprint("after")');
      assert.equal(r.status, 'ok', show(r));
      assert.equal(r.outputsTruncated, true);
      assert.equal(stdout(r), 'after\n');
      assert.ok(!r.outputs.some((o) => o.type === 'display_data'), show(r));
    } finally {
      const reason = await s.end();
      assert.equal(reason.code, 'closed');
    }
  });

  it('a hostile cell cannot reach the worker channel; killing the bridge closes the channel with a reason', async () => {
    const s = await openSession(img);
    try {
      await s.channel.ready;
      // The bridge is not dumpable, so with procfs' hidepid its /proc entries are invisible to
      // same-uid code in the kernel. What the kernel writes to its own fds 1 and 2 is captured by
      // ipykernel into stream messages: data inside a frame, never a frame.
      const r = await executeCell(s.channel, [
        'import os',
        'bridge = os.getppid()',
        'for fd in (0, 1, 2):',
        '    try:',
        '        f = open(f"/proc/{bridge}/fd/{fd}", "wb", buffering=0)',
        '        f.write(b"garbage\\n" + b"{" * 100000)',
        '        print("opened", fd)',
        '    except OSError as e:',
        '        print("refused", fd, type(e).__name__)',
        // A dumpable process of the same uid is reachable: the refusal above is the bridge's doing.
        'import subprocess',
        'child = subprocess.Popen(["sleep", "30"])',
        'try:',
        '    open(f"/proc/{child.pid}/fd/0", "rb").close()',
        '    print("child reachable")',
        'finally:',
        '    child.kill()',
        '    child.wait()',
        'for fd in (1, 2):',
        '    os.write(fd, b"\\n{\\"ev\\":\\"ready\\"}\\nnot json\\n" * 1000)',
        // ipykernel forwards fd-level output from a thread: give it time to reach this cell.
        'import sys, time',
        'time.sleep(1)',
        'sys.stdout.flush()',
      ].join('\n'));
      assert.equal(r.status, 'ok', show(r));
      assert.match(stdout(r), /refused 0 (FileNotFoundError|PermissionError)\nrefused 1 \1\nrefused 2 \1\nchild reachable\n/);
      assert.ok(stdout(r).includes('{"ev":"ready"}\nnot json\n'), 'the kernel\'s own stdout came back as text');
      // The bridge ignores SIGINT (Ctrl-C semantics belong to the kernel).
      const sigint = await executeCell(s.channel, 'import os, signal, time\nos.kill(os.getppid(), signal.SIGINT)\ntime.sleep(0.2)');
      assert.equal(sigint.status, 'ok', show(sigint));
      const still = await executeCell(s.channel, '1 + 1');
      assert.equal(plain(still), '2', show(still));
      await assert.rejects(executeCell(s.channel, 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)'),
        (err: Error) => err instanceof ChannelClosedError && err.reason.code === 'bridge_exited');
      const reason = await s.channel.closed;
      assert.equal(reason.code, 'bridge_exited', JSON.stringify(reason));
      await assert.rejects(executeCell(s.channel, '1'), ChannelClosedError);
    } finally {
      await s.end();
    }
  });
});
