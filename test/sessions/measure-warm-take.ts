// Is a warm kernel's first message after an idle pause slow in the kernel itself, and does a
// message sent at the take absorb it? One kernel through the real sandbox, warmed as the pool
// does; then rounds of: idle PAUSE ms, [a nudge], the client's gap GAP ms, `1+1` timed from its
// send to its answer, and a second `1+1` at once (the steady state). Variants alternate round by
// round. Figures are printed, never asserted; print the load with them (docs/compat.md, "A warm
// kernel's first cell").
//   UV_THREADPOOL_SIZE=32 node --import tsx test/sessions/measure-warm-take.ts [rounds=12] [pauseMs=3000] [gapMs=20]
// VARIANTS (default none,kernel_info,empty,pass): no message, a kernel_info_request, a silent
// empty execute, a silent `pass`. FRESH_KERNELS=1: a new warmed kernel for every round (its first
// cell is its first ever, as a warm start's). STORE_HISTORY=1: the cells store history (a notebook's
// cells do; the bench's client does not).
import { loadavg } from 'node:os';
import { newMessage, parentMsgId, statusOf } from '../../worker/sessions/jupyter-messages.ts';
import { warmUp } from '../../worker/sessions/warm-kernels.ts';
import type { KernelChannel } from '../../worker/sessions/kernel-channel.ts';
import { kernelImage, openSession, type KernelImage } from './helpers.ts';

const rounds = Number(process.argv[2] ?? 12);
const pauseMs = Number(process.argv[3] ?? 3000);
const gapMs = Number(process.argv[4] ?? 20);
const image = kernelImage();
if ('skip' in image) {
  console.log(`skipped: ${image.skip}`);
  process.exit(0);
}
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const storeHistory = process.env.STORE_HISTORY === '1';
/** A `1+1` cell as the bench's client sends it (store_history false unless STORE_HISTORY=1), to its reply and idle. */
async function cell(channel: KernelChannel): Promise<number> {
  const msg = newMessage('execute_request', { code: '1+1', silent: false, store_history: storeHistory, user_expressions: {}, allow_stdin: false, stop_on_error: false }, channel.session);
  return roundTrip(channel, msg);
}

/** Sends a nudge; resolves with its round trip (to its idle status). */
function nudge(channel: KernelChannel, kind: string): Promise<number> {
  const msg = kind === 'kernel_info'
    ? newMessage('kernel_info_request', {}, channel.session)
    : newMessage('execute_request', { code: kind === 'pass' ? 'pass' : '', silent: true, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: false }, channel.session);
  return roundTrip(channel, msg);
}

function roundTrip(channel: KernelChannel, msg: ReturnType<typeof newMessage>): Promise<number> {
  const t = performance.now();
  let reply = false;
  let idle = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${msg.header.msg_type} within 60 s`)), 60_000);
    const off = channel.subscribe((f) => {
      if (f.kind !== 'message' || parentMsgId(f.msg) !== msg.header.msg_id) return;
      if (f.ch === 'iopub' && statusOf(f.msg) === 'idle') idle = true;
      if (f.ch === 'shell' && f.msg.header.msg_type.endsWith('_reply')) reply = true;
      if (reply && idle) {
        clearTimeout(timer);
        off();
        resolve(performance.now() - t);
      }
    });
    channel.send('shell', msg);
  });
}

const variants = (process.env.VARIANTS ?? 'none,kernel_info,empty,pass').split(',');
const first: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v, []]));
const second: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v, []]));
const nudgeRt: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v, []]));
console.log(`load before: ${load()}; rounds ${rounds} per variant, pause ${pauseMs} ms, gap ${gapMs} ms, store_history ${storeHistory}, fresh kernels ${process.env.FRESH_KERNELS === '1'}`);
const fresh = process.env.FRESH_KERNELS === '1';
const open = async () => {
  const k = await openSession(image as KernelImage);
  await k.channel.ready;
  await warmUp(k.channel);
  return k;
};
let s = await open();
try {
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      if (fresh) {
        await s.end();
        s = await open();
      }
      await sleep(pauseMs);
      let pending: Promise<number> | undefined;
      if (v !== 'none') pending = nudge(s.channel, v);
      if (gapMs > 0) await sleep(gapMs);
      const t = performance.now();
      await cell(s.channel);
      first[v]!.push(performance.now() - t);
      if (pending) nudgeRt[v]!.push(await pending);
      const t2 = performance.now();
      await cell(s.channel);
      second[v]!.push(performance.now() - t2);
    }
  }
} finally {
  await s.end();
}
const f = (xs: number[]) => `p50 ${pct(xs, 0.5).toFixed(1)} (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
for (const v of variants) {
  console.log(`${v.padEnd(12)} first 1+1 ${f(first[v]!)}   second 1+1 ${f(second[v]!)}${v !== 'none' ? `   nudge's own round trip ${f(nudgeRt[v]!)}` : ''}`);
}
console.log(`load after: ${load()}`);
process.exit(0);
