import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, configTable, loadConfig } from '../../services/core/config.ts';

test('defaults parse and the config is frozen', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.redisUrl, undefined);
  assert.equal(c.limits.run.defaults.cpuMs, 2000);
  assert.ok(c.worker.slots >= 1);
  assert.throws(() => { (c as any).port = 1; });
  assert.throws(() => { (c.limits.run.max as any).cpuMs = 1; });
});

test('values are parsed with types', () => {
  const c = loadConfig({ CORRAL_PORT: '9000', CORRAL_API_KEYS: 'a, b,,', REDIS_URL: 'redis://127.0.0.1:7000/2', CORRAL_METRICS: 'false', CORRAL_RUN_CPU_MS_MAX: '9999' });
  assert.equal(c.port, 9000);
  assert.deepEqual(c.apiKeys, ['a', 'b']);
  assert.equal(c.metrics, false);
  assert.equal(c.limits.run.max.cpuMs, 9999);
});

test('every bad value is named in one error', () => {
  try {
    loadConfig({ CORRAL_PORT: 'eighty', CORRAL_LOG_LEVEL: 'loud', REDIS_URL: 'http://x', CORRAL_RUN_CPU_MS_DEFAULT: '50000' });
    assert.fail('no error');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const msg = (e as Error).message;
    for (const k of ['CORRAL_PORT="eighty"', 'CORRAL_LOG_LEVEL="loud"', 'REDIS_URL="http://x"']) assert.ok(msg.includes(k), `${k} missing in ${msg}`);
  }
  assert.throws(() => loadConfig({ CORRAL_RUN_CPU_MS_DEFAULT: '50000' }), /CORRAL_RUN_CPU_MS_DEFAULT=50000: larger than CORRAL_RUN_CPU_MS_MAX=30000/);
});

test('the config table documents every variable with a default and a doc line', () => {
  const rows = configTable();
  assert.ok(rows.length > 40);
  for (const r of rows) assert.ok(r.doc.length > 5, `${r.name} has no doc`);
  assert.ok(rows.some((r) => r.name === 'REDIS_URL' && r.default === '(unset)'));
});

test('docs/configuration.md lists every variable', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  for (const r of configTable()) assert.ok(doc.includes(`\`${r.name}\``), `${r.name} is not in docs/configuration.md`);
});

test('Judge0 switches: Judge0\'s defaults, values from the environment, bad values named', () => {
  const d = loadConfig({}).judge0;
  assert.deepEqual({ ...d, authUsers: [...d.authUsers] }, {
    prefix: '', enableWaitResult: true, enableSubmissionDelete: false, enableCallbacks: true, enableCompilerOptions: true,
    enableCommandLineArguments: true, enableAdditionalFiles: true, enableBatchedSubmissions: true, allowEnableNetwork: false,
    authUsers: [], maxExtractSizeKb: 10240,
  });
  const c = loadConfig({
    CORRAL_JUDGE0_PREFIX: '/judge0/v1', CORRAL_JUDGE0_ENABLE_SUBMISSION_DELETE: 'true', CORRAL_JUDGE0_AUTH_USERS: 'a, b,',
    CORRAL_JUDGE0_MAX_EXTRACT_SIZE_KB: '20', CORRAL_JUDGE0_ENABLE_WAIT_RESULT: '0',
  }).judge0;
  assert.equal(c.prefix, '/judge0/v1');
  assert.equal(c.enableSubmissionDelete, true);
  assert.equal(c.enableWaitResult, false);
  assert.deepEqual(c.authUsers, ['a', 'b']);
  assert.equal(c.maxExtractSizeKb, 20);
  assert.throws(() => loadConfig({ CORRAL_JUDGE0_PREFIX: 'judge0/' }), /CORRAL_JUDGE0_PREFIX="judge0\/"/);
  assert.throws(() => loadConfig({ CORRAL_JUDGE0_ALLOW_ENABLE_NETWORK: 'maybe' }), /CORRAL_JUDGE0_ALLOW_ENABLE_NETWORK/);
  assert.throws(() => loadConfig({ CORRAL_JUDGE0_MAX_EXTRACT_SIZE_KB: '0' }), /CORRAL_JUDGE0_MAX_EXTRACT_SIZE_KB/);
});
