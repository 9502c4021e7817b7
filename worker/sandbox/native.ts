// koffi bindings to native/build/libcorral.so. The struct layouts mirror native/include/corral.h
// field by field; the ABI version check catches a stale build.
import koffi from 'koffi';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { SandboxError, type NativeError } from './errors.ts';

const ABI_VERSION = 11;

/**
 * koffi keeps the memory of this many asynchronous calls (stack + heap, 256 KiB each) between
 * calls and allocates, then frees, a fresh set for every call beyond. Measured with usleep: with
 * 16 calls in flight a call cost the main thread 20 µs instead of 9.5 with the default of 8.
 * A worker has a call in flight per running sandbox, pool build, teardown and volume: with the
 * default 2 slots ~8 % of calls start with more than 8 in flight (no difference measurable in
 * throughput); with more slots or many interactive sessions most would. At most 8 MiB kept.
 * And koffi refuses an asynchronous call beyond max_async_calls in flight (default 256): one per
 * running sandbox, so as many as libuv can have threads (UV_THREADPOOL_SIZE's maximum, 1024);
 * the memory is only taken by calls actually in flight.
 * koffi takes these only before the process loads its first library, hence here, at import.
 */
export const KOFFI_RESIDENT_ASYNC_POOLS = 32;
export const KOFFI_MAX_ASYNC_CALLS = 1024;
try {
  koffi.config({ ...koffi.config(), resident_async_pools: KOFFI_RESIDENT_ASYNC_POOLS, max_async_calls: KOFFI_MAX_ASYNC_CALLS });
} catch {
  // Something in this process loaded a library through koffi first: the defaults stay (slower
  // under load, otherwise the same).
}

export const LIBRARY_PATH = join(dirname(fileURLToPath(import.meta.url)), '../../native/build/libcorral.so');

export interface NativeSpec {
  runs_root: string;
  name: string;
  lowerdirs: string;
  box_dir: string | null;
  box_lowerdirs: string | null;
  box_workdir: string | null;
  argv: Array<string | null>;
  envp: Array<string | null>;
  exec_paths: Array<string | null>;
  cwd: string;
  hostname: string;
  dev_dir: string;
  empty_dir: string;
  stdin_path: string | null;
  stdin_data: Buffer | null;
  stdin_len: number;
  merge_stderr: number;
  /** Streaming: pipe ends (pipe()) the program gets as fd 0/1/2; -1 = not streamed. dispatch owns
   * (closes) them from the moment it is called. */
  stdin_fd: number;
  stdout_fd: number;
  stderr_fd: number;
  id_base: number;
  sandbox_uid: number;
  sandbox_gid: number;
  cgroup_version: number;
  cg_memory: string | null;
  cg_cpu: string | null;
  cg_cpuacct: string | null;
  cg_pids: string | null;
  cg_unified: string | null;
  cpu_ms: number;
  wall_ms: number;
  memory_bytes: number;
  processes: number;
  output_bytes: number;
  disk_bytes: number;
  shm_bytes: number;
  fsize_bytes: number;
  nofile: number;
  stack_bytes: number;
  cpu_quota_us: number;
  use_time_ns: number;
  /** A proc-view daemon's mount point (proc-view.ts) bound over /proc/<file>s; null: none. */
  proc_view_dir: string | null;
  /** CPU placement: v1 the cpuset parent, v2 the unified parent (cpuset enabled); null: none. */
  cg_cpuset: string | null;
  /** The program's CPUs as a cpuset list ("1", "0-1"); null: all of the parent's. */
  cpuset_cpus: string | null;
}

export interface NativeOutcome {
  status: number;
  limit: number;
  exited: number;
  exit_code: number;
  signal: number;
  stdout_truncated: number;
  stderr_truncated: number;
  oom_kills: number;
  cpu_us: number;
  wall_us: number;
  memory_peak_bytes: number;
  stdout_buf: unknown;
  stdout_len: number;
  stderr_buf: unknown;
  stderr_len: number;
  t_cgroup_us: number;
  t_namespaces_us: number;
  t_mounts_us: number;
  t_exec_us: number;
  t_teardown_us: number;
  t_total_us: number;
  error: NativeError;
}

/** A prepared container (native pointer), good for exactly one dispatch, or held: any number of dispatchHeld one after another. */
export type NativeContainer = { readonly __brand: 'corral_container' };

/** A running relay of two connected programs' pipes (native pointer, relay.c); freed by relayFree. */
export type NativeRelay = { readonly __brand: 'corral_relay' };

interface Bindings {
  run(spec: NativeSpec, out: Partial<NativeOutcome>): Promise<number>;
  /** Builds a container ahead of its job; rejects with what failed. */
  prepare(spec: NativeSpec): Promise<NativeContainer>;
  dispatch(container: NativeContainer, spec: NativeSpec, out: Partial<NativeOutcome>): Promise<number>;
  discard(container: NativeContainer): Promise<void>;
  /** Runs held program number `program` (1, 2, … increasing) in the container (corral_dispatch_held). */
  dispatchHeld(container: NativeContainer, program: number, spec: NativeSpec, out: Partial<NativeOutcome>): Promise<number>;
  /** Stops held program `program` (running, or before it starts; never another one). Synchronous. */
  stopHeld(container: NativeContainer, program: number, limit: number): void;
  /** Kills a dispatched run (synchronous, from the event loop). */
  cancel(container: NativeContainer): void;
  /** Kills a dispatched run for a limit the caller enforces (LIMIT_OUTPUT…): the outcome reports it. */
  stop(container: NativeContainer, limit: number): void;
  /** Sends a signal number to every process of a dispatched run; how many got it, or -1. */
  signal(container: NativeContainer, sig: number): number;
  /** A dispatched run's use so far from its cgroup (-1: unknown); same window as signal. */
  usage(container: NativeContainer): { memoryBytes: number; memoryPeakBytes: number; cpuUs: number };
  /** A close-on-exec pipe for streaming: [read end, write end]. */
  pipe(): [number, number];
  /** Starts relaying fds[0] → fds[1] and fds[2] → fds[3] on two native threads, recording up to
   * budgetBytes (corral_relay_start); owns the four descriptors from the call on. */
  relayStart(fds: readonly [number, number, number, number], budgetBytes: number, entryCostBytes: number): NativeRelay;
  /** Waits (on the thread pool) up to graceMs for both directions to end, then stops them;
   * resolves true when one had to be stopped. */
  relayFinish(relay: NativeRelay, graceMs: number): Promise<boolean>;
  /** Stops both directions at once (synchronous). */
  relayAbort(relay: NativeRelay): void;
  /** The recorded bytes and entries ({side, length} pairs), after relayFinish. */
  relayTranscript(relay: NativeRelay): { data: Buffer; entries: Int32Array; truncated: boolean };
  relayFree(relay: NativeRelay): void;
  /** prepare without waiting for the container to be built: for a run that dispatches at once. */
  prepareNow(spec: NativeSpec): Promise<NativeContainer>;
  free(ptr: unknown): void;
  view(ptr: unknown, len: number): Buffer;
  // Asynchronous (libuv's thread pool): a mount, an umount (which may wait for an RCU grace period)
  // or a write must never stall the event loop that also serves the API and the queue.
  /** mkdir dir, mount the tmpfs, make box/ and work/ with their owners: one pool hop. */
  volumeCreate(dir: string, sizeBytes: number, box: { uid: number; gid: number }, work: { uid: number; gid: number }): Promise<void>;
  /** Unmount and rmdir: one pool hop. */
  volumeDestroy(dir: string): Promise<void>;
  /** For the start-up sweep only. */
  volumeUmountSync(dir: string): void;
  writeBeneath(root: string, rel: string, data: Buffer, mode: number, uid: number, gid: number): Promise<void>;
  writeBeneathSync(root: string, rel: string, data: Buffer, mode: number, uid: number, gid: number): void;
  /** null when absent / not a regular file / behind a symlink. */
  readBeneath(root: string, rel: string, maxBytes: number): Promise<{ data: Buffer; size: number } | null>;
  /** Benchmark floor: the same CLONE_VM spawn without any isolation; resolves to the wait status. */
  bareSpawn(path: string, argv0: string): Promise<number>;
  /** Whether the kernel lets a container's init spawn its program into a time namespace (Linux ≥ 6.3); probed once. */
  timeNamespaceUsable(): boolean;
}

/** Bindings per library path: the worker's is LIBRARY_PATH; a benchmark may load a second build
 * of the same ABI beside it (bench/sandbox-cpu.ts, a baseline measured in the same run). */
const loaded = new Map<string, Bindings>();
let typesDeclared = false;

/** koffi's named types, declared once for the process (a second declaration throws), whatever
 * library is loaded: the layouts are the ABI's, which every loaded library must have. */
function declareTypes(): void {
  if (typesDeclared) return;
  typesDeclared = true;
  const str = 'const char *';
  koffi.struct('corral_spec', {
    runs_root: str, name: str, lowerdirs: str, box_dir: str, box_lowerdirs: str, box_workdir: str,
    argv: 'const char **', envp: 'const char **', exec_paths: 'const char **',
    cwd: str, hostname: str, dev_dir: str, empty_dir: str, stdin_path: str, stdin_data: 'const uint8_t *', stdin_len: 'int64_t',
    merge_stderr: 'int32_t', stdin_fd: 'int32_t', stdout_fd: 'int32_t', stderr_fd: 'int32_t', id_base: 'uint32_t', sandbox_uid: 'uint32_t', sandbox_gid: 'uint32_t',
    cgroup_version: 'int32_t', cg_memory: str, cg_cpu: str, cg_cpuacct: str, cg_pids: str, cg_unified: str,
    cpu_ms: 'int64_t', wall_ms: 'int64_t', memory_bytes: 'int64_t', processes: 'int64_t',
    output_bytes: 'int64_t', disk_bytes: 'int64_t', shm_bytes: 'int64_t', fsize_bytes: 'int64_t',
    nofile: 'int64_t', stack_bytes: 'int64_t', cpu_quota_us: 'int64_t', use_time_ns: 'int32_t',
    proc_view_dir: str, cg_cpuset: str, cpuset_cpus: str,
  });
  koffi.struct('corral_error', {
    code: 'int32_t', errnum: 'int32_t', step: koffi.array('char', 32), op: koffi.array('char', 32), message: koffi.array('char', 512),
  });
  koffi.struct('corral_outcome', {
    status: 'int32_t', limit: 'int32_t', exited: 'int32_t', exit_code: 'int32_t', signal: 'int32_t',
    stdout_truncated: 'int32_t', stderr_truncated: 'int32_t', oom_kills: 'int32_t',
    cpu_us: 'int64_t', wall_us: 'int64_t', memory_peak_bytes: 'int64_t',
    stdout_buf: 'void *', stdout_len: 'int64_t', stderr_buf: 'void *', stderr_len: 'int64_t',
    t_cgroup_us: 'int64_t', t_namespaces_us: 'int64_t', t_mounts_us: 'int64_t', t_exec_us: 'int64_t',
    t_teardown_us: 'int64_t', t_total_us: 'int64_t', error: 'corral_error',
  });
  koffi.opaque('corral_container');
  koffi.opaque('corral_relay');
}

export function loadNative(path: string = LIBRARY_PATH): Bindings {
  const known = loaded.get(path);
  if (known) return known;
  if (!existsSync(path)) {
    throw new SandboxError('library',
      `the sandbox library ${path} is not built: run \`npm run build:native\` (needs a C compiler: apt-get install build-essential)`,
    );
  }
  const lib = koffi.load(path);
  const abi = lib.func('int corral_abi_version(void)')() as number;
  if (abi !== ABI_VERSION) {
    throw new SandboxError('library', `${path} has ABI ${abi}, this code expects ${ABI_VERSION}: rebuild with \`npm run build:native\``);
  }
  declareTypes();
  const run = lib.func('int corral_run(const corral_spec *spec, _Out_ corral_outcome *out)');
  const prepare = lib.func('int corral_prepare(const corral_spec *spec, int32_t wait, _Out_ corral_container **out, _Out_ corral_error *err)');
  const dispatch = lib.func('int corral_dispatch(corral_container *c, const corral_spec *spec, _Out_ corral_outcome *out)');
  const discard = lib.func('void corral_discard(corral_container *c)');
  const dispatchHeld = lib.func('int corral_dispatch_held(corral_container *c, int64_t program, const corral_spec *spec, _Out_ corral_outcome *out)');
  const stopHeld = lib.func('void corral_stop_held(corral_container *c, int64_t program, int32_t limit)');
  const cancel = lib.func('void corral_cancel(corral_container *c)');
  const stop = lib.func('void corral_stop(corral_container *c, int32_t limit)');
  const signal = lib.func('int corral_signal(corral_container *c, int32_t sig)');
  const usage = lib.func('int corral_usage(corral_container *c, _Out_ int64_t *memory, _Out_ int64_t *peak, _Out_ int64_t *cpu)');
  const pipe = lib.func('int corral_pipe(_Out_ int32_t *fds, _Out_ corral_error *err)');
  const free = lib.func('void corral_free(void *p)');
  const relayStart = lib.func('int corral_relay_start(const int32_t *fds, int64_t budget, int64_t entryCost, _Out_ corral_relay **out, _Out_ corral_error *err)');
  const relayFinish = lib.func('int corral_relay_finish(corral_relay *r, int64_t graceMs)');
  const relayAbort = lib.func('void corral_relay_abort(corral_relay *r)');
  const relayTranscriptSize = lib.func('int64_t corral_relay_transcript_size(corral_relay *r, _Out_ int64_t *entries, _Out_ int32_t *truncated)');
  const relayTranscript = lib.func('void corral_relay_transcript(corral_relay *r, _Out_ uint8_t *data, _Out_ int32_t *entries)');
  const relayFree = lib.func('void corral_relay_free(corral_relay *r)');
  const volumeCreate = lib.func('int corral_volume_create(const char *dir, int64_t size, uint32_t boxUid, uint32_t boxGid, uint32_t workUid, uint32_t workGid, _Out_ corral_error *err)');
  const volumeDestroy = lib.func('int corral_volume_destroy(const char *dir, _Out_ corral_error *err)');
  const volumeUmount = lib.func('int corral_volume_umount(const char *dir, _Out_ corral_error *err)');
  const writeBeneath = lib.func('int corral_write_beneath(const char *root, const char *rel, const uint8_t *data, int64_t len, uint32_t mode, uint32_t uid, uint32_t gid, _Out_ corral_error *err)');
  const readBeneath = lib.func('int64_t corral_read_beneath(const char *root, const char *rel, _Out_ uint8_t *buf, int64_t max, _Out_ int64_t *size, _Out_ corral_error *err)');

  const bareSpawn = lib.func('int corral_bare_spawn(const char *path, const char *argv0)');
  const timeNamespaceUsable = lib.func('int corral_time_namespace_usable(void)');
  /** Calls fn on libuv's thread pool; resolves with its return value (a number, or undefined for void). */
  const onPool = (fn: ReturnType<typeof lib.func>, ...args: unknown[]) =>
    new Promise<number>((resolve, reject) => {
      fn.async(...args, (e: unknown, rc: number | bigint) => (e ? reject(e) : resolve(Number(rc))));
    });
  /** onPool for the functions that fill a corral_error: a result < 0 rejects with a SandboxError. */
  const call = async (fn: ReturnType<typeof lib.func>, args: unknown[], err: Partial<NativeError>) => {
    const n = await onPool(fn, ...args, err);
    if (n < 0) throw SandboxError.fromNative(err as NativeError);
    return n;
  };
  const callSync = (fn: ReturnType<typeof lib.func>, args: unknown[]) => {
    const err: Partial<NativeError> = {};
    const n = Number(fn(...args, err));
    if (n < 0) throw SandboxError.fromNative(err as NativeError);
    return n;
  };
  const prepareAsync = async (spec: NativeSpec, wait: number): Promise<NativeContainer> => {
    const handle: unknown[] = [null];
    const err: Partial<NativeError> = {};
    if ((await onPool(prepare, spec, wait, handle, err)) < 0) throw SandboxError.fromNative(err as NativeError, 'container setup failed');
    return handle[0] as NativeContainer;
  };
  const bindings: Bindings = {
    run: (spec, out) => onPool(run, spec, out),
    free: (ptr) => free(ptr),
    prepare: (spec) => prepareAsync(spec, 1),
    prepareNow: (spec) => prepareAsync(spec, 0),
    cancel: (container) => cancel(container),
    stop: (container, limit) => stop(container, limit),
    signal: (container, sig) => signal(container, sig) as number,
    usage(container) {
      const memory = [0], peak = [0], cpu = [0];
      if (Number(usage(container, memory, peak, cpu)) < 0) return { memoryBytes: -1, memoryPeakBytes: -1, cpuUs: -1 };
      return { memoryBytes: Number(memory[0]), memoryPeakBytes: Number(peak[0]), cpuUs: Number(cpu[0]) };
    },
    pipe() {
      const fds = new Int32Array(2);
      callSync(pipe, [fds]);
      return [fds[0]!, fds[1]!];
    },
    relayStart(fds, budgetBytes, entryCostBytes) {
      const handle: unknown[] = [null];
      callSync(relayStart, [Int32Array.from(fds), budgetBytes, entryCostBytes, handle]);
      return handle[0] as NativeRelay;
    },
    relayFinish: (relay, graceMs) => onPool(relayFinish, relay, graceMs).then((stopped) => stopped === 1),
    relayAbort: (relay) => relayAbort(relay),
    relayTranscript(relay) {
      const count = [0];
      const truncated = [0];
      const bytes = Number(relayTranscriptSize(relay, count, truncated));
      const data = Buffer.alloc(bytes);
      const entries = new Int32Array(2 * Number(count[0]));
      // koffi copies an _Out_ array back into the TypedArray; an empty one still needs a pointer.
      relayTranscript(relay, bytes ? data : Buffer.alloc(1), entries.length ? entries : new Int32Array(1));
      return { data, entries, truncated: truncated[0] === 1 };
    },
    relayFree: (relay) => relayFree(relay),
    dispatch: (container, spec, out) => onPool(dispatch, container, spec, out),
    discard: (container) => onPool(discard, container).then(() => {}),
    dispatchHeld: (container, program, spec, out) => onPool(dispatchHeld, container, program, spec, out),
    stopHeld: (container, program, limit) => stopHeld(container, program, limit),
    bareSpawn: (path, argv0) => onPool(bareSpawn, path, argv0),
    timeNamespaceUsable: () => timeNamespaceUsable() === 1,
    // A copy: the C memory is freed right after.
    view: (ptr, len) => (len > 0 && ptr ? Buffer.from(new Uint8Array(koffi.view(ptr as never, len) as ArrayBuffer)) : Buffer.alloc(0)),
    volumeCreate: (dir, sizeBytes, box, work) => call(volumeCreate, [dir, sizeBytes, box.uid, box.gid, work.uid, work.gid], {}).then(() => {}),
    volumeDestroy: (dir) => call(volumeDestroy, [dir], {}).then(() => {}),
    volumeUmountSync(dir) {
      callSync(volumeUmount, [dir]);
    },
    writeBeneath: (root, rel, data, mode, uid, gid) => call(writeBeneath, [root, rel, data, data.length, mode, uid, gid], {}).then(() => {}),
    writeBeneathSync(root, rel, data, mode, uid, gid) {
      callSync(writeBeneath, [root, rel, data, data.length, mode, uid, gid]);
    },
    async readBeneath(root, rel, maxBytes) {
      const buf = Buffer.alloc(maxBytes);
      const size = [0];
      try {
        const n = await call(readBeneath, [root, rel, buf, maxBytes, size], {});
        return { data: buf.subarray(0, n), size: Number(size[0]) };
      } catch (err) {
        if (err instanceof SandboxError && err.code === 'not_found') return null;
        throw err;
      }
    },
  };
  loaded.set(path, bindings);
  return bindings;
}
