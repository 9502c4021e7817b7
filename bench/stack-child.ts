// The load test's stack process: bench-stack.ts's stack (embedded Redis, API on 127.0.0.1 port 0,
// a worker with the real sandbox, the image registry plus the bench-only `busybox-echo`). The
// configuration comes from the environment (CORRAL_POOL_MAX_WARM among it), so each configuration
// gets a fresh process and a fresh sandbox host. Started by stack.ts over an IPC channel: it
// reports {url} when ready and stops when told to, or when the parent goes away.
import { startBenchStack } from './bench-stack.ts';

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/stack-child.ts is started by loadtest/stack.ts (needs an IPC channel)');
  const stack = await startBenchStack({ name: 'corral-loadtest' });
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stack.close().finally(() => setTimeout(() => process.exit(0), 100).unref()));
  process.on('message', (m) => { if (m === 'stop') void stop(); });
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.send({ url: stack.url, slots: stack.config.worker.slots, redisPid: stack.redisPid });
}

main().catch((err) => {
  console.error(`loadtest stack: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
