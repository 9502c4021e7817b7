// Job volumes: the directory a run sees as /box. Each volume is a size-limited tmpfs mounted on
// the host (so a program cannot fill the host's disk), holding `box/` (the files, owned by the
// sandbox user) and `work/` (the overlay workdir when the volume is a writable layer over
// another). Every host-side access goes through the native openat2 helpers: no symlink is ever
// followed, no special file ever opened.
import { mkdirSync, chownSync, readdirSync, rmdirSync, lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { defaultSandboxHost, type SandboxHost } from './host.ts';
import { loadNative } from './native.ts';

export interface CollectCaps {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

export interface CollectedFile {
  /** Path relative to /box. */
  path: string;
  size: number;
  content: Buffer;
  truncated: boolean;
}

export class Volume {
  /** The files: pass as `spec.box.dir`. */
  readonly dir: string;
  /** Overlay workdir, on the same filesystem as dir: pass as `spec.box.workDir` with lowerDirs. */
  readonly workDir: string;
  private destroyed = false;

  constructor(readonly mountPoint: string, private readonly host: SandboxHost) {
    this.dir = join(mountPoint, 'box');
    this.workDir = join(mountPoint, 'work');
  }

  /** Writes a file under /box, creating parent directories; never follows a symlink. */
  async writeFile(relPath: string, data: Buffer | string, options: { mode?: number } = {}): Promise<void> {
    const rel = checkRelative(relPath);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    loadNative().writeBeneath(this.dir, rel, bytes, options.mode ?? 0o644, this.host.sandboxHostId, this.host.sandboxHostId);
  }

  /** A regular file's content (at most maxBytes), or null if absent, a symlink or not a regular file. */
  async readFile(relPath: string, maxBytes: number): Promise<{ data: Buffer; size: number; truncated: boolean } | null> {
    const found = loadNative().readBeneath(this.dir, checkRelative(relPath), maxBytes);
    return found && { ...found, truncated: found.size > found.data.length };
  }

  /** Files matching the patterns (paths or globs relative to /box, or absolute under /box). */
  async collect(patterns: string[], caps: CollectCaps): Promise<CollectedFile[]> {
    return collectFiles([this.dir], patterns, caps);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    loadNative().volumeUmount(this.mountPoint);
    rmdirSync(this.mountPoint);
  }
}

export async function createVolume(options: { sizeBytes: number; host?: SandboxHost }): Promise<Volume> {
  const host = options.host ?? defaultSandboxHost();
  const mountPoint = join(host.volumesDir, host.nextName());
  mkdirSync(mountPoint, { mode: 0o755 });
  try {
    loadNative().volumeMount(mountPoint, options.sizeBytes, 0, 0);
    const volume = new Volume(mountPoint, host);
    mkdirSync(volume.dir, { mode: 0o755 });
    chownSync(volume.dir, host.sandboxHostId, host.sandboxHostId);
    mkdirSync(volume.workDir, { mode: 0o700 });
    chownSync(volume.workDir, host.idBase, host.idBase); // the container's root mounts the overlay
    return volume;
  } catch (err) {
    try {
      loadNative().volumeUmount(mountPoint);
    } catch {
      /* was not mounted */
    }
    rmdirSync(mountPoint);
    throw err;
  }
}

export function checkRelative(path: string): string {
  const rel = path.replace(/^\/box\//, '').replace(/^\.\//, '');
  if (!rel || rel.startsWith('/') || rel.includes('\0') || rel.split('/').some((part) => part === '..' || part === '')) {
    throw new RangeError(`not a relative path inside /box: ${JSON.stringify(path)}`);
  }
  return rel;
}

/** Glob (`*`, `?`, `**`) to a regular expression over paths relative to /box. */
export function globToRegExp(pattern: string): RegExp {
  const rel = pattern.replace(/^\/box\/?/, '').replace(/^\.\//, '');
  let re = '';
  for (let i = 0; i < rel.length; i++) {
    const c = rel[i]!;
    if (c === '*' && rel[i + 1] === '*') {
      re += rel[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += rel[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * Collects from overlay layers, top first: a file in an upper layer hides the lower one, and a
 * whiteout (0/0 character device) hides it too. Symlinks and special files are never read.
 */
export async function collectFiles(layers: string[], patterns: string[], caps: CollectCaps): Promise<CollectedFile[]> {
  const matchers = patterns.map(globToRegExp);
  const seen = new Set<string>();
  const found: Array<{ layer: string; rel: string }> = [];
  const walk = (layer: string, rel: string) => {
    let entries: string[];
    try {
      entries = readdirSync(rel ? join(layer, rel) : layer);
    } catch {
      return;
    }
    for (const name of entries.sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      let st: Stats;
      try {
        st = lstatSync(join(layer, childRel));
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        walk(layer, childRel);
        continue;
      }
      if (seen.has(childRel)) continue;
      seen.add(childRel); // a whiteout or any entry hides lower layers' file of that name
      if (st.isFile() && !isWhiteout(st) && matchers.some((m) => m.test(childRel))) found.push({ layer, rel: childRel });
    }
  };
  for (const layer of layers) walk(layer, '');
  const files: CollectedFile[] = [];
  let total = 0;
  for (const { layer, rel } of found.sort((a, b) => a.rel.localeCompare(b.rel))) {
    if (files.length >= caps.maxFiles) break;
    const room = Math.max(0, Math.min(caps.maxFileBytes, caps.maxTotalBytes - total));
    const read = loadNative().readBeneath(layer, rel, room);
    if (!read) continue;
    total += read.data.length;
    files.push({ path: rel, size: read.size, content: read.data, truncated: read.size > read.data.length });
  }
  return files;
}
