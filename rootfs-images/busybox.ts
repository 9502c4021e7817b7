// The tiny test image: Debian's static busybox with its applet links and the directories the
// sandbox mounts over. No debootstrap, no chroot: it builds in well under a second.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';

const run = promisify(execFile);

/** The installed busybox-static binary, or one unpacked from `apt-get download busybox-static`. */
async function busyboxBinary(scratch: string): Promise<string> {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    // Only a static build works inside an image with no libc (Debian's `busybox` is dynamic).
    if (existsSync(p) && isStaticElf(await readFile(p))) return p;
  }
  await run('apt-get', ['download', 'busybox-static'], { cwd: scratch });
  const deb = (await readdir(scratch)).find((f) => /^busybox-static_.*\.deb$/.test(f));
  if (!deb) throw new Error(`apt-get download busybox-static left no .deb in ${scratch}`);
  await run('dpkg-deb', ['-x', join(scratch, deb), join(scratch, 'x')]);
  return join(scratch, 'x', 'bin', 'busybox');
}

/** A 64-bit little-endian ELF without a PT_INTERP program header needs no dynamic loader. */
export function isStaticElf(bin: Buffer): boolean {
  if (bin.length < 64 || bin.readUInt32BE(0) !== 0x7f454c46 || bin[4] !== 2 || bin[5] !== 1) return false;
  const phoff = Number(bin.readBigUInt64LE(32));
  const phentsize = bin.readUInt16LE(54);
  const phnum = bin.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > bin.length) return false;
    if (bin.readUInt32LE(off) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

export async function makeBusyboxLayer(fs: string): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'corral-busybox-'));
  try {
    const src = await busyboxBinary(scratch);
    await mkdir(join(fs, 'bin'), { recursive: true });
    await copyFile(src, join(fs, 'bin', 'busybox'));
    await chmod(join(fs, 'bin', 'busybox'), 0o755);
    const { stdout } = await run(join(fs, 'bin', 'busybox'), ['--list-full']);
    for (const rel of stdout.split('\n').map((s) => s.trim()).filter(Boolean)) {
      if (rel === 'bin/busybox' || rel.includes('..')) continue;
      const link = join(fs, rel);
      if (existsSync(link)) continue;
      await mkdir(dirname(link), { recursive: true });
      await symlink('/bin/busybox', link);
    }
    for (const [dir, mode] of [['etc', 0o755], ['proc', 0o555], ['dev', 0o755], ['sys', 0o555], ['box', 0o755],
      ['root', 0o700], ['tmp', 0o1777], ['run', 0o755], ['usr/lib', 0o755]] as const) {
      await mkdir(join(fs, dir), { recursive: true });
      await chmod(join(fs, dir), mode);
    }
    await writeFile(join(fs, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nrunner:x:1000:1000:runner:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    await writeFile(join(fs, 'etc/group'), 'root:x:0:\nrunner:x:1000:\nnogroup:x:65534:\n');
    await writeFile(join(fs, 'etc/hosts'), '127.0.0.1 localhost corral\n');
    await writeFile(join(fs, 'etc/os-release'), 'NAME="Corral busybox test image"\nID=corral-busybox\n');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
