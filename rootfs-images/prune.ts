// What is left out of a layer: apt caches and lists, logs, backup files, docs, man pages.
// Applied to the layer's own files (the overlay upper) after its build, so nothing here touches
// the parent layers. Whiteouts (0/0 char devices) are never removed: that would undo a deletion.
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Directories whose contents go, entirely (the directories themselves stay as mount points). */
const EMPTY_DIRS = ['var/lib/apt/lists', 'var/cache/apt/archives', 'var/log/apt', 'tmp', 'var/tmp', 'run'];
/** Directories emptied except for names matching `keep` (a kept directory is itself emptied). */
const DOC_DIRS: Array<[string, RegExp | null]> = [
  ['usr/share/man', /^man1$/], // openjdk's postinst needs man1 to exist (update-alternatives)
  ['usr/share/info', null],
  ['usr/share/lintian', null],
  ['usr/share/locale', /^locale\.alias$/],
];
/** Single files matched by name inside a directory. */
const FILES: Array<[string, RegExp]> = [
  ['var/cache/apt', /\.bin$/],
  ['var/log', /^(dpkg\.log|alternatives\.log|bootstrap\.log|apt\.log)$/],
  ['var/cache/debconf', /-old$/],
  ['var/lib/dpkg', /-old$/],
];

export async function pruneLayer(fs: string): Promise<void> {
  for (const dir of EMPTY_DIRS) await removeEntries(join(fs, dir), () => true);
  for (const [dir, keep] of DOC_DIRS) {
    await removeEntries(join(fs, dir), (name) => !keep?.test(name));
    for (const name of (await names(join(fs, dir))).filter((n) => keep?.test(n))) {
      const p = join(fs, dir, name);
      if ((await lstat(p)).isDirectory()) await removeEntries(p, () => true);
    }
  }
  for (const [dir, re] of FILES) await removeEntries(join(fs, dir), (name) => re.test(name));
  // Docs: everything but the copyright files (licences must ship with the binaries).
  const doc = join(fs, 'usr/share/doc');
  for (const pkg of await names(doc)) {
    await removeEntries(join(doc, pkg), (name) => name !== 'copyright');
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
}

async function removeEntries(dir: string, pick: (name: string) => boolean): Promise<void> {
  for (const name of await names(dir)) {
    if (!pick(name) || name === 'lock' || name === 'partial') continue;
    const p = join(dir, name);
    const st = await lstat(p);
    if (st.isCharacterDevice() && st.rdev === 0) continue; // a whiteout
    await rm(p, { recursive: true, force: true });
  }
}
