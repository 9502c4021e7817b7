// The koffi settings the bindings depend on take effect only before the first library is loaded
// (koffi refuses them afterwards), so they are applied when native.ts is imported.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import koffi from 'koffi';
import { KOFFI_MAX_ASYNC_CALLS, KOFFI_RESIDENT_ASYNC_POOLS, loadNative } from '../../worker/sandbox/native.ts';

it('keeps memory for 32 asynchronous calls in flight and allows 1024 (koffi configured at import)', () => {
  loadNative();
  assert.equal(koffi.config().resident_async_pools, KOFFI_RESIDENT_ASYNC_POOLS);
  assert.equal(koffi.config().max_async_calls, KOFFI_MAX_ASYNC_CALLS);
  assert.ok(KOFFI_RESIDENT_ASYNC_POOLS > 8, 'no more than koffi\'s default');
  assert.ok(KOFFI_MAX_ASYNC_CALLS >= 1024, 'fewer calls than libuv can have threads');
});
