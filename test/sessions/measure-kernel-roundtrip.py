#!/usr/bin/python3
# The kernel's own part of a cell, measured on the host without the sandbox (issue 19,
# docs/sessions.md "The cell path"): how long after an execute_request for `1+1` each of the
# cell's messages (busy, execute_input, execute_result, execute_reply, idle) arrives.
#
#   bridge   this checkout's kernel-bridge.py as a child, spoken to in its JSON lines on stdio
#            (what the worker does, minus the container and Node)
#   inproc   the bridge's own Kernel class driven from this process: ipykernel behind the
#            bridge's launcher, without the stdio hop and the bridge's loop
#   client   jupyter_client's KernelManager + BlockingKernelClient on stock ipykernel
#            (ipykernel_launcher, no Corral patch): the floor of ipykernel itself
#
# Figures are printed, never asserted. Debian's /usr/bin/python3 has what this needs (pyzmq,
# ipykernel, jupyter_client), the same versions as the python image.
#   /usr/bin/python3 test/sessions/measure-kernel-roundtrip.py [bridge|inproc|client ...] [--cells N] [--warm N]
#       [--taskset CPUS] [--bridge-python-flags "-I"] [--kernel-arg ARG ...] [--json]
# (--json: one line per mode, {mode, p50, p90, min, cpuMsPerCell}; npm run bench:session reads it.)
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
# KERNEL_BRIDGE=FILE measures another bridge (an older one, a prototype) against this one.
BRIDGE = os.environ.get('KERNEL_BRIDGE') or os.path.join(HERE, '..', '..', 'rootfs-images', 'files', 'kernel-bridge.py')
KINDS = ('busy', 'execute_input', 'execute_result', 'execute_reply', 'idle')


def execute_request(code, session):
    return {'header': {'msg_id': str(uuid.uuid4()), 'msg_type': 'execute_request', 'session': session,
                       'username': 'bench', 'date': '2020-01-01T00:00:00Z', 'version': '5.3'},
            'parent_header': {}, 'metadata': {},
            'content': {'code': code, 'silent': False, 'store_history': True, 'user_expressions': {},
                        'allow_stdin': False, 'stop_on_error': False}}


def kind_of(ch, msg):
    t = msg['header'].get('msg_type')
    if ch == 'iopub' and t == 'status':
        return msg['content'].get('execution_state')
    return t


def bridge_module():
    spec = importlib.util.spec_from_file_location('kernel_bridge', BRIDGE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def kernel_argv(kernel_args, launcher):
    """The bridge's kernel argv, plus `kernel_args`; `launcher` (a file) replaces its -c program."""
    argv = list(bridge_module().DEFAULT_KERNEL_ARGV)
    if launcher:
        with open(launcher) as f:
            argv[argv.index('-c') + 1] = f.read()
    return argv + list(kernel_args)


class BridgeDriver:
    """kernel-bridge.py as a child process, JSON lines on its stdio."""

    def __init__(self, python_flags, kernel_args, taskset, launcher):
        argv = [sys.executable, *python_flags, BRIDGE]
        if kernel_args or launcher:
            argv += ['--', *kernel_argv(kernel_args, launcher)]
        if taskset:
            argv = ['taskset', '-c', taskset, *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.session = str(uuid.uuid4())
        self.buf = b''
        while True:
            f = self.next_frame()
            if f.get('ev') == 'ready':
                self.pid = f['pid']
                break
            if f.get('ev') in ('kernel_exited', 'error'):
                raise SystemExit('the bridge says: %s' % json.dumps(f))

    def next_frame(self):
        while b'\n' not in self.buf:
            data = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not data:
                raise SystemExit('bridge ended')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cell(self, code):
        req = execute_request(code, self.session)
        msg_id = req['header']['msg_id']
        t0 = time.perf_counter()
        os.write(self.proc.stdin.fileno(), (json.dumps({'ch': 'shell', 'msg': req}) + '\n').encode())
        times = {}
        while 'execute_reply' not in times or 'idle' not in times:
            f = self.next_frame()
            if 'msg' not in f or f['msg']['parent_header'].get('msg_id') != msg_id:
                continue
            times.setdefault(kind_of(f['ch'], f['msg']), (time.perf_counter() - t0) * 1000)
        return times

    def pids(self):
        return [self.proc.pid, self.pid]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class InprocDriver:
    """The bridge's Kernel class in this process: zmq sockets polled here, no stdio hop."""

    def __init__(self, kernel_args, taskset, launcher):
        import zmq
        self.zmq = zmq
        mod = bridge_module()
        if taskset:
            os.sched_setaffinity(0, {int(c) for c in taskset.split(',')})
        argv = kernel_argv(kernel_args, launcher)
        self.k = mod.Kernel(argv, zmq.Context(), mod.Output(1 << 30))
        self.poller = zmq.Poller()
        for s in self.k.sockets.values():
            self.poller.register(s, zmq.POLLIN)
        self.session = self.k.session
        while not self.k.ready:
            if time.monotonic() - self.k.last_nudge > 0.25:
                self.k.nudge()
            for s, _ in self.poller.poll(250):
                ch = next(c for c, x in self.k.sockets.items() if x is s)
                f = self.k.receive(ch)
                if f and self.k.is_own(f):
                    self.k.note_own(f)

    def cell(self, code):
        req = execute_request(code, self.session)
        msg_id = req['header']['msg_id']
        t0 = time.perf_counter()
        self.k.send('shell', req, [])
        times = {}
        while 'execute_reply' not in times or 'idle' not in times:
            for s, _ in self.poller.poll(5000):
                ch = next(c for c, x in self.k.sockets.items() if x is s)
                while True:
                    try:
                        f = self.k.receive(ch)
                    except self.zmq.Again:
                        break
                    if f and f['msg']['parent_header'].get('msg_id') == msg_id:
                        times.setdefault(kind_of(ch, f['msg']), (time.perf_counter() - t0) * 1000)
        return times

    def pids(self):
        return [os.getpid(), self.k.proc.pid]

    def close(self):
        self.k.stop()


class ClientDriver:
    """jupyter_client on stock ipykernel: KernelManager starts it, BlockingKernelClient speaks."""

    def __init__(self, kernel_args, taskset):
        from jupyter_client import KernelManager
        if taskset:
            os.sched_setaffinity(0, {int(c) for c in taskset.split(',')})
        os.environ['PYDEVD_DISABLE_FILE_VALIDATION'] = '1'
        self.km = KernelManager(kernel_name='python3')
        self.km.start_kernel(extra_arguments=['--HistoryManager.enabled=False', *kernel_args])
        # Plain (synchronous) sockets of our own: jupyter_client 7's client channels are asyncio ones.
        import zmq
        self.km.context = zmq.Context()
        self.session = self.km.session
        self.shell = self.km.connect_shell()
        self.iopub = self.km.connect_iopub()
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)
        # Ready once a kernel_info_request's status is seen on iopub (as the bridge's nudges):
        # before, the subscription may not be in place and a cell's idle would be lost.
        seen_iopub = False
        while not seen_iopub:
            self.ask('kernel_info_request', {})
            for s, _ in self.poller.poll(250):
                s.recv_multipart()
                seen_iopub = seen_iopub or s is self.iopub

    def ask(self, msg_type, content):
        msg = self.session.msg(msg_type, content)
        self.session.send(self.shell, msg)
        return msg['header']['msg_id']

    def cell(self, code):
        t0 = time.perf_counter()
        msg_id = self.ask('execute_request', execute_request(code, '')['content'])
        times = {}
        while 'execute_reply' not in times or 'idle' not in times:
            for s, _ in self.poller.poll(5000):
                ch = 'shell' if s is self.shell else 'iopub'
                idents, parts = self.session.feed_identities(s.recv_multipart())
                msg = self.session.deserialize(parts)
                if msg['parent_header'].get('msg_id') == msg_id:
                    times.setdefault(kind_of(ch, msg), (time.perf_counter() - t0) * 1000)
        return times

    def pids(self):
        return [os.getpid(), self.km.provisioner.process.pid]

    def close(self):
        self.shell.close(0)
        self.iopub.close(0)
        self.km.shutdown_kernel(now=True)


def cpu_ticks(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def measure(name, driver, cells, warm, as_json=False):
    for _ in range(warm):
        driver.cell('1+1')
    pids = driver.pids()
    ticks0 = [cpu_ticks(p) for p in pids]
    rows = [driver.cell('1+1') for _ in range(cells)]
    ticks1 = [cpu_ticks(p) for p in pids]
    driver.close()
    done = [max(r['execute_reply'], r['idle']) for r in rows]
    parts = []
    for k in KINDS:
        xs = [r[k] for r in rows if k in r]
        if xs:
            parts.append('%s %.2f' % (k, pct(xs, 50)))
    cpu_ms = [(b - a) * 10 / cells for a, b in zip(ticks0, ticks1)]
    if as_json:
        print(json.dumps({'mode': name, 'p50': pct(done, 50), 'p90': pct(done, 90), 'min': min(done),
                          'cpuMsPerCell': cpu_ms}), flush=True)
        return pct(done, 50)
    cpu = ' + '.join('%.2f' % x for x in cpu_ms)
    print('%-7s done p50 %.2f ms  p90 %.2f  min %.2f | p50 at: %s | CPU ms/cell (driver/bridge + kernel) %s'
          % (name, pct(done, 50), pct(done, 90), min(done), ', '.join(parts), cpu), flush=True)
    return pct(done, 50)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('modes', nargs='*', default=['bridge', 'inproc', 'client'])
    ap.add_argument('--cells', type=int, default=300)
    ap.add_argument('--warm', type=int, default=30)
    ap.add_argument('--rounds', type=int, default=1, help='the modes, interleaved, this many times')
    ap.add_argument('--taskset', default='')
    ap.add_argument('--bridge-python-flags', default='-I')
    ap.add_argument('--kernel-arg', action='append', default=[])
    ap.add_argument('--launcher', default='', help="a file whose program replaces the bridge's kernel launcher (-c)")
    ap.add_argument('--json', action='store_true', help='one JSON line per mode, nothing else (bench:session reads it)')
    a = ap.parse_args()
    with open('/proc/loadavg') as f:
        if not a.json:
            print('load %s, %d CPUs, %d cells per mode after %d warm-up' % (' '.join(f.read().split()[:3]), os.cpu_count(), a.cells, a.warm))
    for _ in range(a.rounds):
        for mode in a.modes:
            if mode == 'bridge':
                d = BridgeDriver(a.bridge_python_flags.split(), a.kernel_arg, a.taskset, a.launcher)
            elif mode == 'inproc':
                d = InprocDriver(a.kernel_arg, a.taskset, a.launcher)
            elif mode == 'client':
                d = ClientDriver(a.kernel_arg, a.taskset)
            else:
                raise SystemExit('unknown mode %r' % mode)
            measure(mode, d, a.cells, a.warm, a.json)
    with open('/proc/loadavg') as f:
        if not a.json:
            print('load after %s' % ' '.join(f.read().split()[:3]))


if __name__ == '__main__':
    main()
