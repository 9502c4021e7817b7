// Job volumes: the directory a run sees as /box. Each volume is a size-limited tmpfs mounted on
// the host (so a program cannot fill the host's disk), holding `box/` (the files, owned by the
// sandbox user) and `work/` (the overlay workdir when the volume is a writable layer over
// another). Every host-side access goes through the native openat2 helpers: no symlink is ever
// followed, no special file ever opened.
import { type Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadNative } from './native.ts';

/** What a volume needs from the host that owns it (SandboxHost is one). */
export interface VolumeOwner {
  /** Where volumes are mounted. */
  readonly volumesDir: string;
  /** Host uid/gid of the sandbox user, owner of box/. */
  readonly sandboxHostId: number;
  /** Host uid/gid of the container's root, owner of work/. */
  readonly idBase: number;
  /** A name unique among every host of the process. */
  nextName(): string;
}

export interface CollectCaps {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes: number;
  /** Directory entries visited in all (default COLLECT_WALK_MAX_ENTRIES). */
  maxEntries?: number;
  /** Directory depth descended to (default COLLECT_WALK_MAX_DEPTH). */
  maxDepth?: number;
}

export interface CollectedFile {
  /** Path relative to /box. */
  path: string;
  size: number;
  content: Buffer;
  truncated: boolean;
}

/** Inputs up to this size are written synchronously (see writeFile). */
const SYNC_WRITE_MAX_BYTES = 64 * 1024;

export class Volume {
  /** The files: pass as `spec.box.dir`. */
  readonly dir: string;
  /** Overlay workdir, on the same filesystem as dir: pass as `spec.box.workDir` with lowerDirs. */
  readonly workDir: string;
  private destroyed = false;
  /** Called once when destroy() starts (the warm set mounts the volume's successor then). */
  onDestroy: (() => void) | undefined;

  constructor(readonly mountPoint: string, private readonly host: VolumeOwner) {
    this.dir = join(mountPoint, 'box');
    this.workDir = join(mountPoint, 'work');
  }

  /** Writes a file under /box, creating parent directories; never follows a symlink. */
  async writeFile(relPath: string, data: Buffer | string, options: { mode?: number } = {}): Promise<void> {
    const rel = checkRelative(relPath);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const args = [this.dir, rel, bytes, options.mode ?? 0o644, this.host.sandboxHostId, this.host.sandboxHostId] as const;
    // A small write costs less than the round trip through the thread pool.
    if (bytes.length <= SYNC_WRITE_MAX_BYTES) loadNative().writeBeneathSync(...args);
    else await loadNative().writeBeneath(...args);
  }

  /** A regular file's content (at most maxBytes), or null if absent, a symlink or not a regular file. */
  async readFile(relPath: string, maxBytes: number): Promise<{ data: Buffer; size: number; truncated: boolean } | null> {
    const found = await loadNative().readBeneath(this.dir, checkRelative(relPath), maxBytes);
    return found && { ...found, truncated: found.size > found.data.length };
  }

  /** Files matching the patterns (paths or globs relative to /box, or absolute under /box). */
  async collect(patterns: string[], caps: CollectCaps): Promise<CollectedFile[]> {
    return collectFiles([this.dir], patterns, caps);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.onDestroy?.();
    await loadNative().volumeDestroy(this.mountPoint);
  }
}

/** Mounts a new volume (the cold path, and how warm volumes are made). */
export async function mountVolume(host: VolumeOwner, sizeBytes: number): Promise<Volume> {
  const mountPoint = join(host.volumesDir, host.nextName());
  // The mount point's mkdir and rmdir (in the state directory, a journaled filesystem), the mount
  // and the unmount can sleep (an unmount waits for an RCU grace period; a CPU profile at
  // saturation once had the main thread 8.6 % of its time in a synchronous rmdir), so they run
  // on the thread pool, all of a volume's making in one native call and all of its removal in
  // another: each trip through the pool costs ~40 µs of CPU and more on a busy event loop.
  // box/ belongs to the sandbox user; work/ to the container's root, which mounts the overlay.
  await loadNative().volumeCreate(mountPoint, sizeBytes, { uid: host.sandboxHostId, gid: host.sandboxHostId }, { uid: host.idBase, gid: host.idBase });
  return new Volume(mountPoint, host);
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
 * Directory entries a collect may visit in all. The tree was written by the program, so it can
 * hold millions of empty files (they cost no disk space): past this many entries the walk stops
 * and what was found so far is collected.
 */
export const COLLECT_WALK_MAX_ENTRIES = 20_000;
/** Directory depth a collect descends to. */
export const COLLECT_WALK_MAX_DEPTH = 32;

/**
 * Collects from overlay layers, top first: a file in an upper layer hides the lower one, and a
 * whiteout (0/0 character device) hides it too. Symlinks and special files are never read.
 */
export async function collectFiles(layers: string[], patterns: string[], caps: CollectCaps): Promise<CollectedFile[]> {
  const matchers = patterns.map(globToRegExp);
  const seen = new Set<string>();
  const found: Array<{ layer: string; rel: string }> = [];
  let budget = caps.maxEntries ?? COLLECT_WALK_MAX_ENTRIES;
  const maxDepth = caps.maxDepth ?? COLLECT_WALK_MAX_DEPTH;
  const walk = async (layer: string, rel: string, depth: number): Promise<void> => {
    let entries: string[];
    try {
      entries = await readdir(rel ? join(layer, rel) : layer);
    } catch {
      return;
    }
    for (const name of entries.sort()) {
      if (--budget < 0) return;
      const childRel = rel ? `${rel}/${name}` : name;
      let st: Stats;
      try {
        st = await lstat(join(layer, childRel));
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (depth < maxDepth) await walk(layer, childRel, depth + 1);
        continue;
      }
      if (seen.has(childRel)) continue;
      seen.add(childRel); // a whiteout or any entry hides lower layers' file of that name
      if (st.isFile() && !isWhiteout(st) && matchers.some((m) => m.test(childRel))) found.push({ layer, rel: childRel });
    }
  };
  for (const layer of layers) await walk(layer, '', 0);
  const files: CollectedFile[] = [];
  let total = 0;
  for (const { layer, rel } of found.sort((a, b) => a.rel.localeCompare(b.rel))) {
    if (files.length >= caps.maxFiles) break;
    const room = Math.max(0, Math.min(caps.maxFileBytes, caps.maxTotalBytes - total));
    const read = await loadNative().readBeneath(layer, rel, room);
    if (!read) continue;
    total += read.data.length;
    files.push({ path: rel, size: read.size, content: read.data, truncated: read.size > read.data.length });
  }
  return files;
}
