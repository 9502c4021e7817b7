// The image builder. An image is its parent's layers plus one layer of its own; each layer is
// built once, into <root>/tmp/<id>-<pid>, and renamed into <root>/layers/<id> when complete:
//
//   source "busybox"      copy the static busybox and its applet links (busybox.ts)
//   source "debootstrap"  debootstrap --variant=minbase into the layer dir, then files/packages/setup
//                         chrooted into it directly (the base has no parent to overlay)
//   parent P              overlay(P's layers, empty upper) mounted in a private mount namespace,
//                         files/packages/setup chrooted into it, the upper dir kept as the layer
//   npm entries           a file from a pinned npm package, written after `files` (npm-files.ts)
//
// Then pruneLayer() drops caches/docs, the size is measured and layer.json written. Because a
// layer id hashes its recipe and parent id (rootfs-images/layer-id.ts), an unchanged recipe is
// never rebuilt, and an interrupted build resumes at the first missing layer, with the apt
// downloads it already made still in <root>/cache.
import { mkdir, rm, rename, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { ImageStore, pidAlive, type ImageMeta, type LayerMeta } from './store.ts';
import { chain, loadRecipes, type Recipe } from './recipe.ts';
import { canonicalJson, layerId } from './layer-id.ts';
import { makeBusyboxLayer } from './busybox.ts';
import { pruneLayer } from './prune.ts';
import { fetchNpmTarball, readNpmMember } from './npm-files.ts';
import { capture, openLog, runLogged, runStep, StepError, stepArgv, type LayerMounts } from './run-step.ts';
import { createProgress, secs, type Progress } from './builder-progress.ts';

export interface BuildOptions {
  store?: ImageStore;
  recipes?: Map<string, Recipe>;
  progress?: Progress;
  /** Debian mirror for debootstrap; default: the host's configured one. */
  mirror?: string;
  /** Rebuild the image's own top layer even if it is cached (parents stay cached). */
  force?: boolean;
}

export interface BuildResult {
  name: string;
  layers: Array<{ id: string; image: string; cached: boolean; buildMs: number; sizeBytes: number }>;
  versions: Record<string, string>;
  totalMs: number;
}

export class BuildError extends Error {
  constructor(message: string, readonly logFile?: string, readonly tail: string[] = []) {
    super(message);
    this.name = 'BuildError';
  }
}

/** Builds `name` and, on the way, every image it is layered over. */
/** An image's layer directories (bottom first), built first when the store has no build of it. */
export async function imageLayers(name: string, store: ImageStore = new ImageStore()): Promise<string[]> {
  try {
    return (await store.resolve(name)).layerDirs;
  } catch {
    await buildImage(name, { store });
    return (await store.resolve(name)).layerDirs;
  }
}

export async function buildImage(name: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const store = opts.store ?? new ImageStore();
  const recipes = opts.recipes ?? loadRecipes();
  const progress = opts.progress ?? createProgress();
  const started = Date.now();
  const recipeChain = chain(recipes, name);
  await mkdir(store.tmpDir, { recursive: true });
  await mkdir(store.logDir, { recursive: true });
  const unlock = await lockStore(store, progress);
  try {
    await store.removeStaleTmp();
    return await buildChain(store, recipeChain, opts, progress, started);
  } finally {
    unlock();
    // A caller that passed its own progress reporter closes it (it may build more images).
    if (!opts.progress) progress.close();
  }
}

async function buildChain(store: ImageStore, recipeChain: Recipe[], opts: BuildOptions, progress: Progress, started: number): Promise<BuildResult> {
  const layers: BuildResult['layers'] = [];
  const ids: string[] = [];
  let versions: Record<string, string> = {};
  for (const [i, recipe] of recipeChain.entries()) {
    const id = layerId(recipe, ids.at(-1) ?? null);
    const prefix = `[${recipe.name} ${i + 1}/${recipeChain.length}]`;
    const rebuild = opts.force && i === recipeChain.length - 1 && store.hasLayer(id);
    if (store.hasLayer(id) && !rebuild) {
      const meta = await store.readLayer(id);
      layers.push({ id, image: recipe.name, cached: true, buildMs: 0, sizeBytes: meta.sizeBytes });
      progress.done(prefix, `layer ${id.slice(0, 12)} cached (${mib(meta.sizeBytes)})`);
    } else {
      const meta = await buildLayer(store, recipe, id, ids, opts.mirror, progress, prefix, rebuild === true);
      layers.push({ id, image: recipe.name, cached: false, buildMs: meta.buildMs, sizeBytes: meta.sizeBytes });
      progress.done(prefix, `layer ${id.slice(0, 12)} built in ${secs(meta.buildMs)} (${mib(meta.sizeBytes)})`);
    }
    ids.push(id);
    versions = await recordImage(store, recipe, [...ids], progress, prefix);
  }
  return { name: recipeChain.at(-1)!.name, layers, versions, totalMs: Date.now() - started };
}

/**
 * One build at a time per store: builds share the apt cache (whose lock would fail a second
 * apt-get) and may share layers. The lock file holds the builder's pid; a dead holder's lock is
 * taken over. Waits (with a progress line) while another live builder holds it.
 */
async function lockStore(store: ImageStore, progress: Progress): Promise<() => void> {
  const file = join(store.root, 'build.lock');
  for (let waited = 0; ; waited++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => { try { if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file); } catch { /* gone */ } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new BuildError(`cannot create ${file}: ${(err as Error).message}`);
    }
    const holder = Number(readFileSyncSafe(file).trim());
    if (!holder || !pidAlive(holder)) {
      unlinkSync(file);
      continue;
    }
    if (waited % 30 === 0) progress.step('[store]', `waiting for the build lock held by pid ${holder} (${file})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Writes images/<name>.json, probing language versions unless the same layers were probed before. */
async function recordImage(store: ImageStore, recipe: Recipe, ids: string[], progress: Progress, prefix: string): Promise<Record<string, string>> {
  const old = await store.readImage(recipe.name);
  // Re-probe when the layers or any version command changed; otherwise keep what was recorded.
  const probeKey = canonicalJson(recipe.languages.map((l) => [l.id, l.version, l.versionPattern ?? null]));
  if (old && old.layers.join() === ids.join() && old.probeKey === probeKey) return old.versions;
  const versions: Record<string, string> = {};
  if (recipe.languages.length) {
    progress.step(prefix, `probing versions of ${recipe.languages.map((l) => l.id).join(', ')}`);
    Object.assign(versions, await probeVersions(store, ids, recipe));
  }
  const meta: ImageMeta = { name: recipe.name, layers: ids, builtAt: new Date().toISOString(), versions, probeKey };
  await store.writeImage(meta);
  return versions;
}

async function buildLayer(store: ImageStore, recipe: Recipe, id: string, parentIds: string[], mirror: string | undefined,
  progress: Progress, prefix: string, replace: boolean): Promise<LayerMeta> {
  const started = Date.now();
  const tmp = join(store.tmpDir, `${id}-${process.pid}`);
  const logFile = join(store.logDir, `${id}.log`);
  await rm(tmp, { recursive: true, force: true });
  const fs = join(tmp, 'fs');
  const mounts: LayerMounts = {
    lowers: parentIds.map((p) => store.layerFsDir(p)),
    upper: fs,
    work: join(tmp, 'work'),
    root: recipe.source === 'debootstrap' ? fs : join(tmp, 'root'),
    // Only recipes that install packages get the shared apt cache bound in (and need apt at all).
    aptCache: recipe.packages.length ? join(store.cacheDir, 'apt') : null,
  };
  for (const d of [fs, mounts.work, mounts.root]) await mkdir(d, { recursive: true });
  const log = openLog(logFile);
  log.write(`=== ${new Date().toISOString()} building layer ${id} of image '${recipe.name}' ===\n`);
  const io = { log, onLine: (l: string) => progress.output(l) };
  try {
    if (recipe.source === 'busybox') {
      progress.step(prefix, 'busybox layer');
      await makeBusyboxLayer(fs);
    } else {
      if (recipe.source === 'debootstrap') await debootstrap(recipe, fs, store, mirror ?? hostMirror(), io, progress, prefix);
      for (const f of recipe.files) {
        progress.step(prefix, `write ${f.path}`);
        await runStep(mounts, writeFileArgv(f.path, f.mode), { ...io, stdin: f.content });
      }
      for (const n of recipe.npm) {
        progress.step(prefix, `npm ${n.package}@${n.version}: ${n.from} → ${n.path}`);
        const tarball = await fetchNpmTarball(n, join(store.cacheDir, 'npm'), io);
        const bytes = await readNpmMember(tarball, n.from, tmp, io);
        await runStep(mounts, writeFileArgv(n.path, n.mode), { ...io, stdin: bytes });
      }
      if (recipe.packages.length) {
        progress.step(prefix, 'apt-get update');
        await runStep(mounts, ['apt-get', 'update'], io);
        progress.step(prefix, `apt-get install ${summarize(recipe.packages)}`);
        await runStep(mounts, ['apt-get', 'install', '-y', '--no-install-recommends', ...recipe.packages], io);
      }
      for (const cmd of recipe.setup) {
        progress.step(prefix, `run ${summarize(cmd)}`);
        await runStep(mounts, cmd, io);
      }
    }
    progress.step(prefix, 'pruning caches and docs');
    await pruneLayer(fs);
    // The overlay work dir and mount point are build scaffolding, not part of the layer.
    await rm(mounts.work, { recursive: true, force: true });
    if (mounts.root !== fs) await rm(mounts.root, { recursive: true, force: true });
    const meta: LayerMeta = {
      id, image: recipe.name, parent: parentIds.at(-1) ?? null,
      builtAt: new Date().toISOString(), buildMs: Date.now() - started, sizeBytes: await duBytes(fs),
    };
    await writeFile(join(tmp, 'layer.json'), JSON.stringify(meta, null, 2) + '\n');
    if (replace) {
      const old = join(store.tmpDir, `old-${id}-${process.pid}`);
      await rename(store.layerDir(id), old);
      await rm(old, { recursive: true, force: true });
    }
    await mkdir(join(store.root, 'layers'), { recursive: true });
    await rename(tmp, store.layerDir(id));
    log.write(`=== built in ${secs(meta.buildMs)}, ${meta.sizeBytes} bytes ===\n`);
    return meta;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    const tail = err instanceof StepError ? err.tail : [];
    log.write(`=== FAILED: ${(err as Error).message} ===\n`);
    throw new BuildError(`image '${recipe.name}', layer ${id}: ${(err as Error).message} (log: ${logFile})`, logFile, tail);
  } finally {
    await new Promise<void>((resolve) => log.end(resolve));
  }
}

/** A fixed script writing stdin to a file in the chroot; the path and mode are positional arguments. */
function writeFileArgv(path: string, mode: string): string[] {
  return ['/bin/sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', 'write', path, mode];
}

async function debootstrap(recipe: Recipe, fs: string, store: ImageStore, mirror: string,
  io: { log: WriteStream; onLine: (l: string) => void }, progress: Progress, prefix: string): Promise<void> {
  const d = recipe.debootstrap ?? { suite: 'bookworm', variant: 'minbase', include: [] };
  const cache = join(store.cacheDir, 'debootstrap');
  await mkdir(cache, { recursive: true });
  progress.step(prefix, `debootstrap --variant=${d.variant} ${d.suite} from ${mirror}`);
  // In a private mount namespace: debootstrap's own /proc and /sys mounts vanish with it.
  await runLogged(['unshare', '--mount', '--propagation', 'private', '--fork', '--',
    'debootstrap', `--variant=${d.variant}`, `--cache-dir=${cache}`,
    ...(d.include.length ? [`--include=${d.include.join(',')}`] : []),
    d.suite, fs, mirror], io, 'debootstrap');
  // debootstrap copies the host's resolv.conf in; the image keeps an empty one (runs have no
  // network), which the build binds the host's over (chroot-step.sh).
  await writeFile(join(fs, 'etc/resolv.conf'), '');
  await writeFile(join(fs, 'etc/hostname'), 'corral\n');
}

/** Language versions: each version command run in a throwaway overlay of the image's layers. */
export async function probeVersions(store: ImageStore, ids: string[], recipe: Recipe): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const tmp = join(store.tmpDir, `probe-${ids.at(-1)}-${process.pid}`);
  try {
    for (const lang of recipe.languages) {
      await rm(tmp, { recursive: true, force: true });
      const m: LayerMounts = { lowers: ids.map((i) => store.layerFsDir(i)), upper: join(tmp, 'u'), work: join(tmp, 'w'), root: join(tmp, 'r'), aptCache: null };
      for (const d of [m.upper, m.work, m.root]) await mkdir(d, { recursive: true });
      const { code, output } = await capture(stepArgv(m, lang.version));
      out[lang.id] = pickVersion(output, lang.versionPattern) ?? `unknown (version command exited ${code})`;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return out;
}

export function pickVersion(output: string, pattern?: string): string | null {
  if (pattern) {
    const m = new RegExp(pattern, 'm').exec(output);
    return m ? (m[1] ?? m[0]).trim() : null;
  }
  return output.split('\n').map((s) => s.trim()).find(Boolean) ?? null;
}

/** The first `URIs:` (deb822) or `deb URL` line of the host's apt sources. */
export function hostMirror(): string {
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sources') || f.endsWith('.list')).map((f) => join(dir, f)) : [];
  if (existsSync('/etc/apt/sources.list')) files.unshift('/etc/apt/sources.list');
  for (const f of files) {
    const text = readFileSyncSafe(f);
    const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
    if (m && !/security/.test(m[1])) return m[1];
  }
  return 'http://deb.debian.org/debian';
}

function readFileSyncSafe(f: string): string {
  try { return readFileSync(f, 'utf8'); } catch { return ''; }
}

async function duBytes(dir: string): Promise<number> {
  const { output, code } = await capture(['du', '-s', '-B1', dir]);
  const n = Number(output.split(/\s/)[0]);
  if (code !== 0 || !Number.isFinite(n)) throw new Error(`du ${dir} failed: ${output.trim()}`);
  return n;
}

function summarize(argv: string[]): string {
  const s = argv.join(' ');
  return s.length > 70 ? `${s.slice(0, 67)}…` : s;
}
export function mib(bytes: number): string { return `${(bytes / 2 ** 20).toFixed(1)} MiB`; }

