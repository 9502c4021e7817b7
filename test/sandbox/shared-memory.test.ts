// A container's processes share the worker's memory until the program's execve (CLONE_VM), and
// with it the thread pointer of the thread that built them: glibc's errno of that thread. Before
// the container's side used raw system calls, every failing call in a container (a missing PATH
// candidate, a mkdir that found its directory, the signal reset's EINVALs) wrote that thread's
// errno while the thread went on with other work; a dispatch that got EPIPE from a cancelled
// container once read "File exists" from another container's setup and failed the run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import koffi from 'koffi';
import { constants } from 'node:os';
import { loadNative, LIBRARY_PATH, type NativeContainer, type NativeOutcome } from '../../worker/sandbox/native.ts';
import { nativeSpecFor } from '../../worker/sandbox/spec.ts';
import { toOutcome } from '../../worker/sandbox/outcome.ts';
import { busyboxLayers, expectNothingLeftBehind, testHost } from '../helpers/sandbox.ts';

let layers: string[];

describe('the container and the thread that built it', () => {
  before(async () => {
    layers = await busyboxLayers();
  });
  expectNothingLeftBehind('the test left something behind');

  it("never writes the building thread's errno", async () => {
    const native = loadNative(); // registers the struct types the declarations below name
    const lib = koffi.load(LIBRARY_PATH);
    // Built synchronously on the main thread, so the container shares this thread's errno.
    const prepareHere = lib.func('int corral_prepare(const corral_spec *spec, int32_t wait, _Out_ corral_container **out, _Out_ corral_error *err, int32_t errLen)');
    const errnoLocation = koffi.load('libc.so.6').func('int *__errno_location(void)');
    const here = errnoLocation();
    const mainErrno = () => koffi.decode(here, 'int') as number;

    // The first PATH candidate has a name too long for any file system: its execve fails with
    // ENAMETOOLONG; /bin/true follows. The init's last waitpid ends with ECHILD. This process
    // has no children and names no long path, so neither value can come from the main thread.
    const spec = nativeSpecFor({ layers, argv: ['true'], env: { PATH: `/${'n'.repeat(300)}:/bin` } }, testHost());
    const handle: unknown[] = [null];
    const err: { msg?: string } = {};
    assert.equal(prepareHere(spec, 1, handle, err, 512), 0, err.msg ?? '');
    const container = handle[0] as NativeContainer;
    try {
      koffi.encode(here, 'int', 0);
      const out = {} as NativeOutcome;
      await native.dispatch(container, spec, out); // on a pool thread; the program runs meanwhile
      const outcome = toOutcome(out);
      assert.equal(outcome.status, 'ok', outcome.error ?? '');
      const written = mainErrno();
      assert.ok(![constants.errno.ENAMETOOLONG, constants.errno.ECHILD].includes(written), `the container wrote the main thread's errno (${written})`);
    } finally {
      await native.discard(container);
    }
  });
});
