// The koffi settings the bindings depend on take effect only before the first library is loaded
// (koffi refuses them afterwards), so they are applied when native.ts is imported.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import koffi from 'koffi';
import { KOFFI_RESIDENT_ASYNC_POOLS, loadNative } from '../../worker/sandbox/native.ts';

it('keeps memory for 32 asynchronous calls in flight (koffi configured at import)', () => {
  loadNative();
  assert.equal(koffi.config().resident_async_pools, KOFFI_RESIDENT_ASYNC_POOLS);
  assert.ok(KOFFI_RESIDENT_ASYNC_POOLS > 8, 'no more than koffi\'s default');
});
