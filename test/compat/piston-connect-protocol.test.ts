// The pure parts of Piston's /api/v2/connect protocol: reading client messages as Piston does,
// its close codes and signal names, and a stage's end as Piston's `exit` message.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE, PISTON_SIGNALS, pistonExit, readClientMessage } from '../../services/api/compat/piston/connect-protocol.ts';
import type { StageExit } from '../../services/core/interactive-protocol.ts';

describe('connect protocol', () => {
  it('uses Piston\'s close codes and reasons', () => {
    assert.deepEqual(Object.values(CLOSE).map((c) => [c.code, c.reason]), [
      [4000, 'Already Initialized'], [4001, 'Initialization Timeout'], [4002, 'Notified Error'], [4003, 'Not yet initialized'],
      [4004, 'Can only write to stdin'], [4005, 'Invalid signal'], [4999, 'Job Completed'],
    ]);
  });

  it('reads messages as Piston does: JSON objects by type, unknown types ignored', () => {
    const table: Array<[string, unknown]> = [
      ['{"type":"init","language":"py"}', { type: 'init', body: { type: 'init', language: 'py' } }],
      ['{"type":"data","stream":"stdin","data":"x"}', { type: 'data', stream: 'stdin', data: 'x' }],
      ['{"type":"signal","signal":"SIGINT"}', { type: 'signal', signal: 'SIGINT' }],
      ['{"type":"eof"}', { type: 'eof' }],
      ['{"type":"hello"}', { type: 'ignored' }],
      ['{}', { type: 'ignored' }],
    ];
    for (const [text, expected] of table) assert.deepEqual(readClientMessage(text), expected, text);
    for (const bad of ['{', '', 'null', '3', '"init"', '[{"type":"init"}]']) assert.equal(readClientMessage(bad).type, 'invalid', bad);
  });

  it('accepts Piston\'s signal names only', () => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGUSR1', 'SIGSTOP', 'SIGCONT', 'SIGWINCH']) assert.ok(PISTON_SIGNALS.includes(s), s);
    for (const s of ['INT', 'sigint', 'SIGRTMIN', '9']) assert.ok(!PISTON_SIGNALS.includes(s), s);
  });

  it('reports a stage\'s end as Piston\'s exit message', () => {
    const base: StageExit = {
      stage: 'run', status: 'ok', limit: null, exitCode: 0, signal: null, cpuMs: 12.4, wallMs: 30.6, memoryKb: 1000,
      stdoutTruncated: false, stderrTruncated: false,
    };
    const table: Array<[Partial<StageExit>, Partial<ReturnType<typeof pistonExit>>]> = [
      [{}, { code: 0, signal: null, status: null, message: null }],
      [{ status: 'runtime_error', exitCode: 3 }, { code: 3, signal: null, status: 'RE', message: 'Exited with error status 3' }],
      [{ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }, { code: null, signal: 'SIGSEGV', status: 'SG', message: 'Caught fatal signal 11' }],
      [{ status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL' }, { code: null, signal: 'SIGKILL', status: 'TO', message: 'Time limit exceeded (wall clock)' }],
      [{ status: 'time_limit', limit: 'cpu', exitCode: null }, { code: null, signal: 'SIGKILL', status: 'TO', message: 'Time limit exceeded' }],
      [{ status: 'memory_limit', limit: 'memory', exitCode: null, signal: 'SIGKILL' }, { code: null, signal: 'SIGKILL', status: 'SG', message: 'Memory limit exceeded (peak 1024000 bytes)' }],
    ];
    for (const [exit, expected] of table) {
      const m = pistonExit({ ...base, ...exit }, 1000);
      assert.deepEqual({ code: m.code, signal: m.signal, status: m.status, message: m.message }, expected, JSON.stringify(exit));
      assert.deepEqual([m.type, m.stage, m.cpu_time, m.wall_time, m.memory], ['exit', 'run', 12, 31, 1_024_000]);
    }
    const out = pistonExit({ ...base, status: 'output_limit', limit: 'output', exitCode: null, signal: 'SIGKILL', stdoutTruncated: true }, 5000);
    assert.deepEqual([out.status, out.signal, out.code], ['OL', 'SIGKILL', null]);
    assert.match(out.message!, /^stdout length exceeded: output limit reached \(5000 bytes/);
    const err = pistonExit({ ...base, status: 'output_limit', limit: 'output', exitCode: null, stderrTruncated: true }, 5000);
    assert.deepEqual([err.status, err.signal], ['EL', 'SIGKILL']);
    assert.match(err.message!, /^stderr length exceeded/);
  });
});
