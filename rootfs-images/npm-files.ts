// Files taken from npm registry packages: Deno and Bun ship their Linux binaries as npm packages
// (`@deno/linux-x64-glibc`, `@oven/bun-linux-x64-baseline`), and the npm registry is the one
// place besides the Debian mirror a build may download from. A recipe pins each package by exact
// version and SRI integrity (rootfs-images/recipe.ts, `npm`); the tarball is fetched with the
// ordinary npm client (`npm pack`), its SHA-512 checked against the pin, and kept in
// <root>/cache/npm/ so a rebuild downloads nothing. One member of it is then extracted and
// written into the layer by the builder.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { NpmFile } from './recipe.ts';
import { runLogged, type StepIo } from './run-step.ts';

/** `sha512-<base64>` of a file, the form npm's `dist.integrity` uses. */
export async function sriOf(file: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha512-${hash.digest('base64')}`;
}

/** The cache file of a pinned package version (scoped names keep their scope, `/` → `+`). */
export function npmCacheFile(cacheDir: string, entry: Pick<NpmFile, 'package' | 'version'>): string {
  return join(cacheDir, `${entry.package.replace('/', '+')}-${entry.version}.tgz`);
}

/**
 * The package's tarball, from the cache when its hash matches the pin, else fetched with
 * `npm pack`. A tarball whose hash differs from the pin is never used (nor cached).
 */
export async function fetchNpmTarball(entry: NpmFile, cacheDir: string, io: StepIo): Promise<string> {
  const file = npmCacheFile(cacheDir, entry);
  if (existsSync(file) && (await sriOf(file)) === entry.integrity) return file;
  await mkdir(cacheDir, { recursive: true });
  const spec = `${entry.package}@${entry.version}`;
  const dest = await mkdtemp(join(cacheDir, '.pack-'));
  try {
    await runLogged(['npm', 'pack', '--silent', '--ignore-scripts', '--pack-destination', dest, spec], io, `npm pack ${spec}`);
    const got = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
    if (got.length !== 1) throw new Error(`npm pack ${spec} left ${got.length} tarballs in ${dest}, expected 1`);
    const sri = await sriOf(join(dest, got[0]));
    if (sri !== entry.integrity) {
      throw new Error(`npm package ${spec}: the registry's tarball has integrity ${sri}, the recipe pins ${entry.integrity}`);
    }
    await rename(join(dest, got[0]), file);
    return file;
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}

/**
 * The bytes of one member of a package tarball. Only that member is extracted (into a scratch
 * dir that is removed again), and it must be a regular file reached through no symlink.
 */
export async function readNpmMember(tarball: string, from: string, scratchDir: string, io: StepIo): Promise<Buffer> {
  const dir = await mkdtemp(join(scratchDir, 'npm-'));
  try {
    // npm tarballs put everything under package/; GNU tar refuses absolute and `..` names.
    await runLogged(['tar', '-xzf', tarball, '-C', dir, '--no-same-owner', '--no-same-permissions', '--', `package/${from}`],
      io, `extract package/${from} from ${tarball}`);
    const want = join(realpathSync(dir), 'package', from);
    const st = lstatSync(want, { throwIfNoEntry: false });
    if (!st?.isFile() || realpathSync(want) !== want) {
      throw new Error(`package/${from} in ${tarball} is not a regular file (${st ? 'a symlink or special file' : 'missing'})`);
    }
    return await readFile(want);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
