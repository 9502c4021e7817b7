// Build progress: one updating status line on a TTY, plain timestamped lines elsewhere (CI logs).
export interface Progress {
  /** A new phase of the current layer (e.g. "apt-get install python3 …"). */
  step(prefix: string, text: string): void;
  /** A line of the running command's output. */
  output(line: string): void;
  /** A finished thing (layer built, cached, image done): always printed on its own line. */
  done(prefix: string, text: string): void;
  close(): void;
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function createProgress(out: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  if (quiet) return { step() {}, output() {}, done() {}, close() {} };
  return out.isTTY ? ttyProgress(out) : plainProgress(out);
}

function plainProgress(out: NodeJS.WriteStream): Progress {
  let stepStart = Date.now();
  let lastBeat = Date.now();
  let label = '';
  let last = '';
  return {
    step(prefix, text) {
      stepStart = lastBeat = Date.now();
      label = `${prefix} ${text}`;
      out.write(`${stamp()} ${label}\n`);
    },
    output(line) {
      last = line;
      // A heartbeat every 30 s so a long apt-get install is visibly alive in CI logs.
      if (Date.now() - lastBeat >= 30_000) {
        lastBeat = Date.now();
        out.write(`${stamp()}   … ${secs(Date.now() - stepStart)} ${last.slice(0, 120)}\n`);
      }
    },
    done(prefix, text) { out.write(`${stamp()} ${prefix} ${text}\n`); },
    close() {},
  };
}

function ttyProgress(out: NodeJS.WriteStream): Progress {
  let label = '';
  let last = '';
  let stepStart = Date.now();
  let frame = 0;
  const draw = (): void => {
    const cols = out.columns || 100;
    const head = `${SPIN[frame++ % SPIN.length]} ${label} ${secs(Date.now() - stepStart)}`;
    const tail = last ? `  ${last}` : '';
    out.write(`\r\x1b[K${(head + tail).slice(0, cols - 1)}`);
  };
  const timer = setInterval(() => { if (label) draw(); }, 100);
  timer.unref();
  return {
    step(prefix, text) { label = `${prefix} ${text}`; last = ''; stepStart = Date.now(); draw(); },
    output(line) { last = line.replace(/\s+/g, ' ').trim(); },
    done(prefix, text) { out.write(`\r\x1b[K✓ ${prefix} ${text}\n`); label = ''; },
    close() { clearInterval(timer); if (label) out.write('\r\x1b[K'); },
  };
}

function stamp(): string { return new Date().toISOString().slice(11, 19); }
export function secs(ms: number): string { return `${(ms / 1000).toFixed(1)}s`; }
