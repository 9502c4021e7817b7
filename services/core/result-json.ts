// A run's result as the JSON bytes stored in Redis, written once from its output's bytes. The
// worker holds each phase's output as the sandbox's Buffers (PhaseBytes) up to here: building the
// result as strings and then JSON.stringify'ing it made the output three copies more (the
// phases' text, the JSON text, its UTF-8 bytes), ~6× the output at the cap in the worker. Here
// the JSON is written straight into one Buffer of its exact size: the small rest of the result
// by JSON.stringify, each output escaped byte by byte (or base64, as its phase's `encoding` says)
// from the sandbox's bytes. The bytes are exactly those `JSON.stringify` makes of the same result
// with its output as text (Buffer.from(JSON.stringify(text))), which the API sends as stored and
// the faces parse: test/worker/result-json.test.ts compares the two.
import { randomBytes } from 'node:crypto';
import type { PhaseResult, RunResult } from './schemas.ts';

/** A phase as the worker holds it: its output as bytes, written out as `encoding` says. */
export type PhaseBytes = Omit<PhaseResult, 'stdout' | 'stderr'> & { stdout: Buffer; stderr: Buffer };

type PhaseField = 'compile' | 'run' | 'tests' | 'checkerCompile' | 'interactorCompile';

/** A run's result as the worker holds it: phases with their output as bytes. */
export type ResultBytes = Omit<RunResult, PhaseField> & {
  compile: PhaseBytes | null;
  run: PhaseBytes | null;
  tests: PhaseBytes[] | null;
  checkerCompile?: PhaseBytes;
  interactorCompile?: PhaseBytes;
};

type AnyPhase = PhaseResult | PhaseBytes;

/** Bytes JSON.stringify adds escaping each byte of UTF-8 text: \" \\ \b \t \n \f \r (1), other control characters \u00XX (5). */
const EXTRA = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) EXTRA[c] = 5;
for (const c of [0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x22, 0x5c]) EXTRA[c] = 1;
/** The short escapes' letters (0: none). */
const SHORT = new Uint8Array(256);
for (const [c, ch] of [[0x08, 'b'], [0x09, 't'], [0x0a, 'n'], [0x0c, 'f'], [0x0d, 'r'], [0x22, '"'], [0x5c, '\\']] as const) SHORT[c] = ch.charCodeAt(0);
const HEX = Buffer.from('0123456789abcdef'); // JSON.stringify writes \u001b, lower case

/** Length of valid UTF-8 text as a JSON string's content (without its quotes). */
function escapedLength(text: Buffer): number {
  const t = bytesOf(text);
  let n = t.length;
  for (let i = 0; i < t.length; i++) n += EXTRA[t[i]!]!;
  return n;
}

/** A plain Uint8Array over a Buffer's bytes: V8's fastest element access in the loops below. */
const bytesOf = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.length);

/** Spans without an escape at least this long are copied natively, shorter ones byte by byte. */
const COPY_MIN_BYTES = 64;

/**
 * Writes valid UTF-8 text JSON-escaped at `at`. A plain loop over bytes: output such as `y\n`
 * lines has an escape every other byte, and a native copy per span cost ~100 × more (5–7 s for
 * 32 MiB on a loaded host, the event loop blocked; this loop: well under a second).
 */
function writeEscaped(text: Buffer, outBuffer: Buffer, at: number): number {
  const t = bytesOf(text);
  const out = bytesOf(outBuffer);
  let from = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (EXTRA[c] === 0) continue;
    if (i - from >= COPY_MIN_BYTES) at += text.copy(outBuffer, at, from, i);
    else for (let k = from; k < i; k++) out[at++] = t[k]!;
    from = i + 1;
    out[at++] = 0x5c; // backslash
    if (SHORT[c] !== 0) {
      out[at++] = SHORT[c]!;
    } else {
      out[at++] = 0x75; out[at++] = 0x30; out[at++] = 0x30; // u00
      out[at++] = HEX[c >> 4]!; out[at++] = HEX[c & 15]!;
    }
  }
  return at + text.copy(outBuffer, at, from);
}

/** base64 is encoded this much at a time (a multiple of 3): only the chunk's text is a string. */
const BASE64_CHUNK_BYTES = 3 * 64 * 1024;

function writeBase64(bytes: Buffer, out: Buffer, at: number): number {
  for (let i = 0; i < bytes.length; i += BASE64_CHUNK_BYTES) {
    at += out.write(bytes.subarray(i, i + BASE64_CHUNK_BYTES).toString('base64'), at, 'latin1');
  }
  return at;
}

interface Output {
  bytes: Buffer;
  base64: boolean;
}

const encodedLength = (o: Output) => (o.base64 ? Math.ceil(o.bytes.length / 3) * 4 : escapedLength(o.bytes));

/**
 * The result's JSON bytes: what Buffer.from(JSON.stringify(r)) makes of the same result with its
 * output as text, without that text. Phases already holding text (a result read back, a
 * cancelled run's) are stringified as they are.
 */
export function resultJson(result: RunResult | ResultBytes): Buffer {
  const outputs: Output[] = [];
  // Each output's place in the JSON of the rest of the result: a quoted token. Random for each
  // result, made after the output exists, so no text in the result (a checker's message, a
  // transcript) can hold it.
  const token = `corral-output-${randomBytes(16).toString('hex')}-`;
  const hold = <P extends AnyPhase | null | undefined>(p: P): P => {
    if (!p || typeof p.stdout === 'string') return p;
    const base64 = p.encoding === 'base64';
    outputs.push({ bytes: p.stdout as Buffer, base64 }, { bytes: p.stderr as Buffer, base64 });
    // Spread, then overwritten: the keys keep their order, so the JSON's is JSON.stringify's.
    return { ...p, stdout: token + (outputs.length - 2), stderr: token + (outputs.length - 1) };
  };
  const r = result as ResultBytes;
  const skeleton = JSON.stringify({
    ...r,
    compile: hold(r.compile), run: hold(r.run), tests: r.tests ? r.tests.map(hold) : r.tests,
    // undefined when absent: JSON.stringify then leaves the key out, as it did.
    checkerCompile: hold(r.checkerCompile), interactorCompile: hold(r.interactorCompile),
  });
  if (outputs.length === 0) return Buffer.from(skeleton);
  // The skeleton split at each token: texts[i] comes before outputs[order[i]].
  const texts: string[] = [];
  const order: number[] = [];
  const found = new RegExp(`"${token}(\\d+)"`, 'g');
  let last = 0;
  for (let m = found.exec(skeleton); m; m = found.exec(skeleton)) {
    texts.push(skeleton.slice(last, m.index + 1)); // up to and with the opening quote
    order.push(Number(m[1]));
    last = m.index + m[0].length - 1; // from the closing quote
  }
  texts.push(skeleton.slice(last));
  let total = 0;
  for (const t of texts) total += Buffer.byteLength(t);
  for (const i of order) total += encodedLength(outputs[i]!);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  texts.forEach((t, k) => {
    at += out.write(t, at);
    const o = outputs[order[k]!];
    if (o) at = o.base64 ? writeBase64(o.bytes, out, at) : writeEscaped(o.bytes, out, at);
  });
  if (at !== total) throw new Error(`resultJson: wrote ${at} bytes of ${total}`); // a bug, never input
  return out;
}

/** A phase with its output as text, as the API shows it (tests, small phases). */
export function phaseText(p: AnyPhase): PhaseResult {
  if (typeof p.stdout === 'string') return p as PhaseResult;
  const enc = p.encoding === 'base64' ? 'base64' : 'utf8';
  return { ...p, stdout: p.stdout.toString(enc), stderr: (p.stderr as Buffer).toString(enc) };
}

/**
 * A phase as its event keeps it: the head of each stream, at most `maxBytes` bytes of its text
 * (the stored text: base64 when the phase is), cut at a UTF-8 character boundary and marked
 * truncated when cut. Only the head is ever encoded.
 */
export function phasePreview(p: AnyPhase, maxBytes: number): PhaseResult {
  const base64 = p.encoding === 'base64';
  const head = (s: string | Buffer): { text: string; cut: boolean } => {
    if (typeof s === 'string') return textHead(s, maxBytes);
    if (base64) {
      const keep = Math.floor(maxBytes / 4) * 3; // whole base64 quanta of at most maxBytes characters
      return s.length * 4 / 3 <= maxBytes ? { text: s.toString('base64'), cut: false } : { text: s.subarray(0, keep).toString('base64'), cut: true };
    }
    if (s.length <= maxBytes) return { text: s.toString('utf8'), cut: false };
    let end = maxBytes;
    while (end > 0 && (s[end]! & 0xc0) === 0x80) end--; // never split a UTF-8 sequence
    return { text: s.subarray(0, end).toString('utf8'), cut: true };
  };
  const out = head(p.stdout);
  const err = head(p.stderr);
  return { ...p, stdout: out.text, stderr: err.text, ...(out.cut || err.cut ? { truncated: true } : {}) } as PhaseResult;
}

/** The head of a text of at most `maxBytes` UTF-8 bytes (a phase read back as text). */
function textHead(text: string, maxBytes: number): { text: string; cut: boolean } {
  // Characters, not bytes, bound the cut (a UTF-8 char is at most 4 bytes; base64 is ASCII).
  if (text.length <= maxBytes / 4) return { text, cut: false };
  if (Buffer.byteLength(text) <= maxBytes) return { text, cut: false }; // counted, not copied
  // Only the head is encoded: maxBytes characters are at least maxBytes bytes, so the cut falls inside it.
  const bytes = Buffer.from(text.slice(0, maxBytes));
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString(), cut: true };
}
