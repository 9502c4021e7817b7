#!/usr/bin/python3
# Corral kernel bridge: runs one Jupyter kernel inside a Corral container and relays its
# messages over this process's stdin/stdout as newline-delimited JSON (docs/sessions.md).
#
# Theory of operation
#   worker ──stdin (JSON lines)──▶ bridge ──zmq ipc (signed)──▶ kernel (child, own session)
#   worker ◀─stdout (JSON lines)── bridge ◀─zmq ipc (signed)─── kernel
#                                  bridge ◀─pipe─────────────── kernel's stderr (tail kept)
# The container has no network, and its stdio is its only way out, so the kernel's sockets are
# unix sockets (transport "ipc") in a private directory under /tmp, and this bridge is the only
# client. The bridge owns the connection key and signs what the worker sends; the worker sees
# plain JSON and never the wire format. The kernel's stdout is /dev/null and its stderr a pipe
# to the bridge, so nothing the kernel prints can reach the worker except as a message the
# bridge re-serialised. The bridge makes itself non-dumpable, so code in the kernel (same uid)
# cannot open /proc/<bridge>/fd/1 or ptrace it; the worker still trusts nothing it reads.
#
#   worker → bridge  {"ch":"shell"|"control"|"stdin","msg":{header,parent_header,metadata,content},"buffers":[b64…]}
#                    {"cmd":"interrupt"}   SIGINT to the kernel's process group
#                    {"cmd":"restart"}     kill the kernel, start a fresh one (same container)
#   bridge → worker  {"ch":"shell"|"control"|"stdin"|"iopub","msg":{…},"buffers":[b64…]}
#                    {"ev":"ready","kernel_info":{…},"pid":N}          once, when the kernel answers
#                    {"ev":"restarted","kernel_info":{…},"pid":N}      after a restart
#                    {"ev":"kernel_exited","code":N|null,"signal":N|null,"stderr":"…"}
#                    {"ev":"dropped","ch":…,"msg_type":…,"parent_msg_id":…,"bytes":N}   over the line cap
#                    {"ev":"error","message":"…"}                      a bad worker line, an unusable command
# stdin's EOF (or SIGTERM) ends the bridge: the kernel's process group is killed first.
#
# Usage: kernel-bridge.py [--max-line-bytes N] [--ready-timeout-s S] [-- KERNEL ARGV with {connection_file}]
# Only the standard library and pyzmq (Debian python3-zmq, an ipykernel dependency).
import base64
import ctypes
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

import zmq

# ipykernel, started as ipykernel_launcher does, but with debugpy made unimportable: its import
# is about a sixth of the kernel's start, and a debugger that listens on TCP is of no use in a
# container without a network. ('' stays first on sys.path, so modules in /box import.)
#
# And three changes for a cell's round trip (docs/sessions.md "The kernel's own round trip"),
# each measured on its own with test/sessions/measure-kernel-roundtrip.py:
#
# 1. Flush skip. ipykernel flushes sys.stdout and sys.stderr after every cell, before its
#    execute_reply (and again before its idle status), and each flush is a round trip to the
#    kernel's iopub thread (schedule the send, then wait on an Event the iopub thread sets) — four
#    thread wake-ups per cell even when the cell printed nothing (1.5–2 ms of a `1+1` cell). Here a
#    stream that nothing was written to since its last flush skips that round trip: it has nothing
#    to send. Every write (the cell's print, the fd-watcher thread's forwarding of fd-level output)
#    marks the stream, and the mark is cleared before the real flush, so a write racing a flush
#    only costs one more real flush.
#
# 2. IOPub messages sent by the thread that makes them. ipykernel hands every iopub message
#    (busy, execute_input, execute_result, display_data, idle…) to its iopub thread through an
#    in-process queue and a zmq wake-up, and that thread then needs the GIL, which the cell's own
#    thread holds while it runs: the busy status of a `1+1` cell left after its execute_reply.
#    The iopub socket is a PUB socket, only ever sent on, so here the sending thread sends itself,
#    under a lock (one thread on the socket at a time, and the memory barrier zmq asks for when a
#    socket changes threads). The order of a cell's outputs is kept: stream output still leaves
#    from the iopub thread, but every point that must follow it (display, displayhook, the
#    execute_reply, the idle status) first flushes the streams and waits for that flush, as before.
#    A forked child (multiprocessing) keeps ipykernel's own path (its pipe to the parent). In the
#    main thread an interrupt is held while a message goes out (a KeyboardInterrupt between two
#    parts would lose that message and the next). Measured −1 to −1.5 ms p50 per `1+1` cell.
#
# 3. Header dates parsed by datetime.fromisoformat instead of dateutil: jupyter_client parses the
#    `date` of every message the kernel receives, ~0.13 ms per date with dateutil against 0.2 µs
#    (Python 3.11's fromisoformat takes what jupyter_client's ISO 8601 pattern lets through; on
#    anything it refuses, dateutil as before).
#
# What the skipped flush round trip also gave — the execute_reply leaving after the iopub messages
# queued before it — is not relied on: the worker (execute-cell.ts) and Jupyter clients wait for
# the idle status, which always leaves after the cell's outputs. The same holds for ipykernel's
# 0.5 ms sleep before every execute_reply ("the flush doesn't seem to make it to the clients"),
# which --IPythonKernel._execute_sleep=0 turns off (measured −1 ms p50 or more: the sleep hands the
# GIL to the other threads and waits to get it back).
IPYKERNEL_LAUNCHER = '''
import sys
sys.modules["debugpy"] = None
import signal
import threading
from datetime import datetime
from ipykernel import iostream
from ipykernel.ipkernel import IPythonKernel
from jupyter_client import jsonutil

def write(self, string, _write=iostream.OutStream.write):
    self._corral_unflushed = True
    return _write(self, string)

def flush(self, _flush=iostream.OutStream.flush):
    if getattr(self, "_corral_unflushed", True):
        self._corral_unflushed = False
        _flush(self)

iostream.OutStream.write, iostream.OutStream.flush = write, flush

def send_now(self, args, kwargs):
    with self._corral_send_lock:
        if self.socket is not None:
            self.socket.send_multipart(*args, **kwargs)

def send_multipart(self, *args, _scheduled=iostream.IOPubThread.send_multipart, _main=threading.main_thread(),
                   _current=threading.current_thread, _signal=signal, **kwargs):
    if not self._is_master_process():
        return _scheduled(self, *args, **kwargs)
    # In the main thread, while a handler runs (ipykernel ignores SIGINT between them), an
    # interrupt raises KeyboardInterrupt at the next bytecode: between two parts it would leave
    # half a message on the socket, and the next message appended to it, both lost. So SIGINT is
    # held until the message is out, then handled as it would have been (ipykernel's iopub
    # thread, which never gets signals, had no such window).
    previous = _signal.getsignal(_signal.SIGINT) if _current() is _main else None
    if previous is None or previous == _signal.SIG_IGN:
        return self._corral_send_now(args, kwargs)
    held = []
    _signal.signal(_signal.SIGINT, lambda signum, frame: held.append(frame))
    try:
        self._corral_send_now(args, kwargs)
    finally:
        _signal.signal(_signal.SIGINT, previous)
    if held:
        if callable(previous):
            previous(_signal.SIGINT, held[0])
        else:  # SIG_DFL: what a SIGINT would have done
            _signal.raise_signal(_signal.SIGINT)

# The iopub thread still sends one kind itself: output a forked child (multiprocessing) piped to
# it, forwarded by _really_send. It takes the same lock: a zmq socket is used by one thread at a
# time, and the cell's thread may be sending a display at that moment.
def really_send(self, msg, *args, _really=iostream.IOPubThread._really_send, **kwargs):
    if not self._is_master_process():
        return _really(self, msg, *args, **kwargs)
    with self._corral_send_lock:
        return _really(self, msg, *args, **kwargs)

iostream.IOPubThread._corral_send_lock = threading.Lock()
iostream.IOPubThread._corral_send_now = send_now
iostream.IOPubThread.send_multipart = send_multipart
iostream.IOPubThread._really_send = really_send

# ipykernel ignores SIGINT between requests, and turns it into KeyboardInterrupt for the whole of a
# request's handler (pre_handler_hook). An interrupt that lands in an execute_request's handler
# before the cell's code starts (publishing execute_input) or after it ends (sending the reply)
# then aborts the handler: no execute_reply is sent, the cell is never answered, and the worker
# waits for the cell's timeout and restarts the kernel (measured: 7–10 of 40 interrupts sent as a
# cell starts, with ipykernel's own launcher as with this one). Here SIGINT stays ignored in the
# handlers and raises KeyboardInterrupt only while do_execute runs the cell: an interrupt that
# comes before the cell started is dropped, as one between requests always was, and one that
# escapes do_execute (IPython's steps around the code) is the cell's KeyboardInterrupt error.
def pre_handler_hook(self, _signal=signal):
    self.saved_sigint_handler = _signal.getsignal(_signal.SIGINT)

async def do_execute(self, *args, _do_execute=IPythonKernel.do_execute, _signal=signal, **kwargs):
    previous = _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    try:
        return await _do_execute(self, *args, **kwargs)
    except KeyboardInterrupt:
        # Raised in IPython's own steps around the cell's code (which catches its own): the cell
        # was interrupted all the same, and its reply says so.
        return {"status": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": [],
                "execution_count": self.execution_count, "user_expressions": {}, "payload": []}
    finally:
        _signal.signal(_signal.SIGINT, previous)

IPythonKernel.pre_handler_hook, IPythonKernel.do_execute = pre_handler_hook, do_execute

def parse_date(s, _dateutil=jsonutil.parse_date, _iso8601=jsonutil.ISO8601_PAT, _fromiso=datetime.fromisoformat):
    if s is None or not _iso8601.match(s):
        return s
    try:
        dt = _fromiso(s)
    except ValueError:
        return _dateutil(s)
    return dt if dt.tzinfo else _dateutil(s)

jsonutil.parse_date = parse_date
del write, flush, send_now, send_multipart, really_send, pre_handler_hook, do_execute, IPythonKernel, parse_date, iostream, jsonutil, threading, datetime, signal
from ipykernel.kernelapp import launch_new_instance
launch_new_instance()
'''
DEFAULT_KERNEL_ARGV = [sys.executable, '-c', IPYKERNEL_LAUNCHER, '-f', '{connection_file}',
                       # No history database: the kernel's history stays in memory (In/Out work).
                       '--HistoryManager.enabled=False',
                       # No 0.5 ms sleep before each execute_reply (see above).
                       '--IPythonKernel._execute_sleep=0']
DELIM = b'<IDS|MSG>'
PROTOCOL_VERSION = '5.3'
NUDGE_INTERVAL_S = 0.25
STDERR_TAIL_BYTES = 8192
# A worker line longer than this is refused (the worker is trusted, but a bug must not grow us).
MAX_WORKER_LINE_BYTES = 64 * 1024 * 1024
KILL_GRACE_S = 2.0
# matplotlib's font cache, built when the image was (rootfs-images/python.json): copied into each
# kernel's own MPLCONFIGDIR, so that the first plot does not spend seconds scanning fonts.
PREBUILT_MPLCONFIGDIR = '/usr/lib/corral/matplotlib'


def now_iso():
    return datetime.now(timezone.utc).isoformat().replace('+00:00', 'Z')


def dumps(obj):
    # ASCII only (lone surrogates from the kernel cannot break UTF-8), no NaN/Infinity (not JSON),
    # and no newline anywhere, because a line is a frame.
    return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(',', ':'))


class Output:
    """Frames to the worker on fd 1, one line each; blocking writes (the worker always reads)."""

    def __init__(self, max_line_bytes):
        self.max_line_bytes = max_line_bytes

    def frame(self, obj):
        try:
            line = dumps(obj).encode('ascii') + b'\n'
        except (ValueError, TypeError) as err:
            line = (dumps({'ev': 'error', 'message': 'unserialisable frame: %s' % err}) + '\n').encode('ascii')
        if len(line) > self.max_line_bytes:
            msg = obj.get('msg') or {}
            header = msg.get('header') or {}
            parent = msg.get('parent_header') or {}
            line = (dumps({'ev': 'dropped', 'ch': obj.get('ch'), 'msg_type': str(header.get('msg_type'))[:100],
                           'parent_msg_id': str(parent.get('msg_id'))[:200], 'bytes': len(line)}) + '\n').encode('ascii')
        view = memoryview(line)
        while view:
            try:
                n = os.write(1, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            view = view[n:]

    def event(self, ev, **fields):
        fields['ev'] = ev
        self.frame(fields)


class Kernel:
    """One kernel process and the bridge's sockets to it."""

    def __init__(self, argv_template, ctx, out):
        self.ctx = ctx
        self.out = out
        self.dir = tempfile.mkdtemp(prefix='corral-kernel-', dir='/tmp')  # 0700
        self.key = secrets.token_hex(32).encode('ascii')
        self.session = str(uuid.uuid4())
        self.nudge_prefix = 'corral-bridge-%s-' % secrets.token_hex(8)
        self.nudges = set()
        self.ready = False
        self.reply_seen = False
        self.iopub_seen = False
        self.kernel_info = None
        self.last_nudge = 0.0
        self.exited = None
        self.stderr_tail = b''
        conn_file = os.path.join(self.dir, 'kernel.json')
        ip = os.path.join(self.dir, 'k')
        ports = {'shell_port': 1, 'iopub_port': 2, 'stdin_port': 3, 'control_port': 4, 'hb_port': 5}
        conn = dict(ports, transport='ipc', ip=ip, key=self.key.decode('ascii'),
                    signature_scheme='hmac-sha256', kernel_name='')
        fd = os.open(conn_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump(conn, f)
        env = dict(os.environ)
        # The kernel's own state goes to the private directory, never into the user's /box.
        for var, sub in (('IPYTHONDIR', 'ipython'), ('JUPYTER_RUNTIME_DIR', 'runtime'),
                         ('JUPYTER_DATA_DIR', 'data'), ('JUPYTER_CONFIG_DIR', 'config')):
            env[var] = os.path.join(self.dir, sub)
        env['MPLCONFIGDIR'] = self.private_mplconfigdir()
        env.setdefault('MPLBACKEND', 'module://matplotlib_inline.backend_inline')
        env['PYDEVD_DISABLE_FILE_VALIDATION'] = '1'
        argv = [a.replace('{connection_file}', conn_file) for a in argv_template]
        err_r, err_w = os.pipe()
        try:
            # A session of its own: interrupt and kill reach the kernel's children too, and
            # SIGINT/SIGTERM handlers of the bridge are reset to default by execve.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_w,
                                         close_fds=True, start_new_session=True, env=env, cwd=os.getcwd())
        finally:
            os.close(err_w)
        os.set_blocking(err_r, False)
        self.stderr_fd = err_r
        self.stderr_open = True
        self.stopped = False
        self.sockets = {}
        identity = self.session.encode('ascii')
        for ch, kind in (('shell', zmq.DEALER), ('control', zmq.DEALER), ('stdin', zmq.DEALER), ('iopub', zmq.SUB)):
            s = ctx.socket(kind)
            s.setsockopt(zmq.LINGER, 0)
            if kind == zmq.DEALER:
                # shell and stdin share an identity: the kernel routes input_request to it.
                s.setsockopt(zmq.IDENTITY, identity)
            else:
                s.setsockopt(zmq.SUBSCRIBE, b'')
            s.connect('ipc://%s-%d' % (ip, conn[ch + '_port']))
            self.sockets[ch] = s
        # No heartbeat socket: the bridge is the kernel's parent and sees its death from waitpid;
        # a heartbeat (answered by a separate thread of the kernel) would add nothing.

    def private_mplconfigdir(self):
        path = os.path.join(self.dir, 'matplotlib')
        os.mkdir(path, 0o700)
        try:
            for name in os.listdir(PREBUILT_MPLCONFIGDIR):
                if name.endswith('.json'):
                    shutil.copyfile(os.path.join(PREBUILT_MPLCONFIGDIR, name), os.path.join(path, name))
        except OSError:
            pass  # no prebuilt cache: matplotlib builds one on first use
        return path

    # -- wire format ------------------------------------------------------------------------
    def sign(self, parts):
        h = hmac.new(self.key, digestmod=hashlib.sha256)
        for p in parts:
            h.update(p)
        return h.hexdigest().encode('ascii')

    def send(self, ch, msg, buffers):
        parts = [json.dumps(msg.get(k) or {}, allow_nan=False, separators=(',', ':')).encode('utf-8')
                 for k in ('header', 'parent_header', 'metadata', 'content')]
        # Never blocks: a kernel that is gone (or not reading) gets at most a queue's worth
        # (zmq's high-water mark), then the worker hears 'error' instead of the bridge stalling.
        self.sockets[ch].send_multipart([DELIM, self.sign(parts), *parts, *buffers], zmq.NOBLOCK, copy=True)

    def new_header(self, msg_type, msg_id):
        return {'msg_id': msg_id, 'msg_type': msg_type, 'session': self.session, 'username': 'corral-bridge',
                'date': now_iso(), 'version': PROTOCOL_VERSION}

    def receive(self, ch):
        """The kernel's next message on `ch` as a frame, or None when it is not a valid message."""
        parts = self.sockets[ch].recv_multipart(zmq.NOBLOCK, copy=True)
        try:
            i = parts.index(DELIM)
        except ValueError:
            return None
        rest = parts[i + 1:]
        if len(rest) < 5:
            return None
        sig, raw = rest[0], rest[1:5]
        if not hmac.compare_digest(sig, self.sign(raw)):
            return None
        try:
            header, parent, metadata, content = (json.loads(p) for p in raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not all(isinstance(x, dict) for x in (header, parent, metadata, content)):
            return None
        return {'ch': ch, 'msg': {'header': header, 'parent_header': parent, 'metadata': metadata, 'content': content},
                'buffers': [base64.b64encode(b).decode('ascii') for b in rest[5:]]}

    # -- readiness ----------------------------------------------------------------------------
    def nudge(self):
        """kernel_info_request until one is answered and its status seen on iopub (so the
        iopub subscription is known to be live before the worker sends anything)."""
        msg_id = self.nudge_prefix + str(len(self.nudges))
        self.nudges.add(msg_id)
        self.last_nudge = time.monotonic()
        try:
            self.send('shell', {'header': self.new_header('kernel_info_request', msg_id)}, [])
        except zmq.Again:
            pass  # the kernel is not there yet: the next nudge

    def is_own(self, frame):
        parent = frame['msg']['parent_header']
        return isinstance(parent.get('msg_id'), str) and parent['msg_id'] in self.nudges

    def note_own(self, frame):
        msg_type = frame['msg']['header'].get('msg_type')
        if frame['ch'] == 'shell' and msg_type == 'kernel_info_reply':
            self.reply_seen = True
            self.kernel_info = frame['msg']['content']
        elif frame['ch'] == 'iopub':
            self.iopub_seen = True
        if not self.ready and self.reply_seen and self.iopub_seen:
            self.ready = True
            return True
        return False

    # -- process ------------------------------------------------------------------------------
    def read_stderr(self):
        """Reads what the kernel's stderr has; False once it is at EOF."""
        try:
            data = os.read(self.stderr_fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            self.stderr_open = False
            return False
        self.stderr_tail = (self.stderr_tail + data)[-STDERR_TAIL_BYTES:]
        return True

    def check_exit(self):
        """The exit event's fields once the kernel process has ended (reported once), else None."""
        if self.exited is not None:
            return None
        code = self.proc.poll()
        if code is None:
            return None
        self.exited = code
        for _ in range(16):  # what the kernel wrote last, bounded
            if not self.stderr_open:
                break
            self.read_stderr()
        return {'code': code if code >= 0 else None, 'signal': -code if code < 0 else None,
                'stderr': self.stderr_tail.decode('utf-8', 'replace')}

    def signal_group(self, sig):
        if self.proc.poll() is not None:
            return False
        try:
            os.killpg(self.proc.pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def stop(self):
        """Kills the kernel's process group, closes the sockets and removes the private dir."""
        if self.stopped:
            return
        self.stopped = True
        self.signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=KILL_GRACE_S * 5)
        except subprocess.TimeoutExpired:
            pass
        for s in self.sockets.values():
            s.close(linger=0)
        try:
            os.close(self.stderr_fd)
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Bridge:
    def __init__(self, argv_template, max_line_bytes, ready_timeout_s):
        self.argv_template = argv_template
        self.ready_timeout_s = ready_timeout_s
        self.out = Output(max_line_bytes)
        self.ctx = zmq.Context()
        self.inbuf = bytearray()
        self.stdin_open = True
        self.kernel = None
        self.started_at = 0.0
        self.restarting = False
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def start_kernel(self):
        self.kernel = Kernel(self.argv_template, self.ctx, self.out)
        self.started_at = time.monotonic()

    # -- worker input -------------------------------------------------------------------------
    def read_worker(self):
        try:
            data = os.read(0, 1 << 20)
        except BlockingIOError:
            return
        if not data:
            self.stdin_open = False
            return
        self.inbuf += data
        while True:
            nl = self.inbuf.find(b'\n')
            if nl < 0:
                break
            line = bytes(self.inbuf[:nl])
            del self.inbuf[:nl + 1]
            if line.strip():
                self.handle_worker_line(line)
        if len(self.inbuf) > MAX_WORKER_LINE_BYTES:
            self.inbuf.clear()
            self.out.event('error', message='worker line over %d bytes, dropped' % MAX_WORKER_LINE_BYTES)

    def handle_worker_line(self, line):
        try:
            frame = json.loads(line)
        except ValueError as err:
            return self.out.event('error', message='worker line is not JSON: %s' % err)
        if not isinstance(frame, dict):
            return self.out.event('error', message='worker frame is not an object')
        cmd = frame.get('cmd')
        if cmd == 'interrupt':
            if not self.kernel.signal_group(signal.SIGINT):
                self.out.event('error', message='interrupt: no kernel is running')
            return
        if cmd == 'restart':
            return self.restart()
        if cmd is not None:
            return self.out.event('error', message='unknown command %r' % (str(cmd)[:100],))
        ch, msg, buffers = frame.get('ch'), frame.get('msg'), frame.get('buffers') or []
        if ch not in ('shell', 'control', 'stdin') or not isinstance(msg, dict) or not isinstance(msg.get('header'), dict):
            return self.out.event('error', message='worker frame needs "ch" (shell, control or stdin) and "msg" with a header')
        try:
            raw = [base64.b64decode(b, validate=True) for b in buffers]
            self.kernel.send(ch, msg, raw)
        except zmq.Again:
            self.out.event('error', message='the kernel is not taking messages on %s (queue full); dropped' % ch)
        except (ValueError, TypeError, zmq.ZMQError) as err:
            self.out.event('error', message='cannot send to the kernel: %s' % err)

    def restart(self):
        self.kernel.stop()
        self.restarting = True
        self.start_kernel()

    # -- kernel output ------------------------------------------------------------------------
    def relay(self, ch):
        """Passes on the kernel's next message on `ch`; False when there was none waiting."""
        k = self.kernel
        try:
            frame = k.receive(ch)
        except zmq.Again:
            return False
        if frame is None:
            return True
        if k.is_own(frame):
            if k.note_own(frame):
                fields = {'kernel_info': k.kernel_info, 'pid': k.proc.pid}
                self.out.event('restarted' if self.restarting else 'ready', **fields)
                self.restarting = False
            return True
        if k.ready:  # before, it is the kernel's start-up chatter: nobody asked for it yet
            self.out.frame(frame)
        return True

    def run(self):
        self.start_kernel()
        os.set_blocking(0, False)
        poller, polled = None, None
        while True:
            k = self.kernel
            # The poller is rebuilt only when what it watches changes (a restart, an EOF).
            if polled != (k, self.stdin_open, k.stderr_open):
                polled = (k, self.stdin_open, k.stderr_open)
                poller = zmq.Poller()
                for s in k.sockets.values():
                    poller.register(s, zmq.POLLIN)
                if self.stdin_open:
                    poller.register(0, zmq.POLLIN)
                if k.stderr_open:
                    poller.register(k.stderr_fd, zmq.POLLIN)
                poller.register(self.wake_r, zmq.POLLIN)
            timeout_ms = 1000 if k.ready else int(NUDGE_INTERVAL_S * 1000)
            events = dict(poller.poll(timeout_ms))
            if self.wake_r in events:
                try:
                    os.read(self.wake_r, 4096)
                except BlockingIOError:
                    pass
            if k.stderr_open and k.stderr_fd in events:
                k.read_stderr()
            for ch, s in k.sockets.items():
                if s in events:
                    # What is there, a bounded number per turn so stdin is never starved
                    # (zmq_poll is level-triggered: what is left is reported next turn).
                    for _ in range(100):
                        if not self.relay(ch):
                            break
            if 0 in events:
                self.read_worker()
            if not self.stdin_open:
                break
            if self.kernel is not k:
                continue  # restarted
            exited = k.check_exit()
            if exited is not None:
                self.out.event('kernel_exited', **exited)
            if not k.ready and k.exited is None:
                if time.monotonic() - self.started_at > self.ready_timeout_s:
                    self.out.event('kernel_exited', code=None, signal=None,
                                   stderr='the kernel did not answer within %gs; killed\n%s'
                                   % (self.ready_timeout_s, k.stderr_tail.decode('utf-8', 'replace')))
                    k.signal_group(signal.SIGKILL)
                    k.exited = -1
                elif time.monotonic() - k.last_nudge >= NUDGE_INTERVAL_S:
                    k.nudge()
        self.kernel.stop()
        self.ctx.term()


def parse_args(args):
    max_line_bytes = 8 * 1024 * 1024
    ready_timeout_s = 60.0
    argv = list(DEFAULT_KERNEL_ARGV)
    i = 0
    while i < len(args):
        a = args[i]
        if a == '--max-line-bytes':
            max_line_bytes = int(args[i + 1])
            i += 2
        elif a == '--ready-timeout-s':
            ready_timeout_s = float(args[i + 1])
            i += 2
        elif a == '--':
            argv = args[i + 1:]
            break
        else:
            raise SystemExit('kernel-bridge: unknown argument %r' % a)
    if not argv or not any('{connection_file}' in a for a in argv):
        raise SystemExit('kernel-bridge: the kernel argv needs a {connection_file} placeholder')
    if max_line_bytes < 4096:
        raise SystemExit('kernel-bridge: --max-line-bytes below 4096')
    return argv, max_line_bytes, ready_timeout_s


def main():
    argv, max_line_bytes, ready_timeout_s = parse_args(sys.argv[1:])
    # Ctrl-C semantics belong to the kernel: a SIGINT for the whole run leaves the bridge alone
    # (a handler, not SIG_IGN, so that the kernel, exec'ed after, gets the default back).
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Non-dumpable: same-uid code in the kernel cannot open /proc/<bridge>/fd/* or ptrace us.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass
    bridge = Bridge(argv, max_line_bytes, ready_timeout_s)
    try:
        bridge.run()
    finally:
        if bridge.kernel is not None:
            bridge.kernel.stop()


if __name__ == '__main__':
    main()
