// What the load test sends, and how an answer of POST /v1/runs?wait=true is classified.
import type { Reply } from './http-client.ts';
import type { Outcome } from './stats.ts';

export interface Workload {
  /** What `--workloads` names it by. */
  key: string;
  name: string;
  language: string;
  request: { language: string; source: string };
}

// `busybox-echo` is the bench-only language of bench/bench-stack.ts (`echo hi` in the busybox image,
// which has no language of its own); Bash echo (base image) is kept beside it for comparison.
export const WORKLOADS: readonly Workload[] = [
  { key: 'busybox', name: 'busybox echo', language: 'busybox-echo', request: { language: 'busybox-echo', source: '' } },
  { key: 'bash', name: 'bash echo', language: 'bash', request: { language: 'bash', source: 'echo hi\n' } },
  { key: 'python', name: 'python3 pass', language: 'python', request: { language: 'python', source: 'pass\n' } },
  { key: 'c', name: 'C hello', language: 'c', request: { language: 'c', source: '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' } },
];

export const workloadName = (key: string): string => WORKLOADS.find((w) => w.key === key)!.name;

/** The sandbox-only series (bench/sandbox-series.ts): `echo hi` in the busybox image through host.run. */
export const SANDBOX_WORKLOAD = 'sandbox: busybox echo';

export interface Classified { outcome: Outcome; reason?: string; runId?: string }

/** 200 + completed + accepted is a success; 202 means the server's wait limit passed (a timeout). */
export function classify(reply: Reply): Classified {
  const b = reply.body as { id?: string; status?: string; verdict?: string | null; error?: { code?: string } } | undefined;
  if (reply.status === 200 && b?.status === 'completed' && b.verdict === 'accepted') return { outcome: 'ok' };
  if (reply.status === 202) return { outcome: 'timeout', reason: 'wait_limit_202', ...(b?.id ? { runId: b.id } : {}) };
  if (reply.status === 200) return { outcome: 'error', reason: `run_${b?.status}_${b?.verdict ?? b?.error?.code ?? 'none'}` };
  return { outcome: 'error', reason: `http_${reply.status}${b?.error?.code ? `_${b.error.code}` : ''}` };
}

/** A request that got no answer: the client's own timeout, or a connection error. */
export function classifyFailure(err: unknown): Classified {
  const code = (err as { code?: string })?.code;
  if (code === 'CLIENT_TIMEOUT') return { outcome: 'timeout', reason: 'client_timeout' };
  return { outcome: 'error', reason: `network_${code ?? 'error'}` };
}
