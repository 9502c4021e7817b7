// The layer store: immutable filesystem layers on the host, and images as ordered lists of them.
//
//   <root>/layers/<id>/fs/          the layer's files (overlay upper dir: whiteouts are 0/0 char
//                                   devices, opaque dirs carry user.overlay.opaque=y)
//   <root>/layers/<id>/layer.json   LayerMeta
//   <root>/images/<name>.json       ImageMeta: layer ids bottom first, built-at, language versions
//   <root>/tmp/                     builds in progress (renamed into layers/ on success)
//   <root>/cache/                   apt archives and lists shared by builds (never inside a layer)
//
// A layer's id is a content hash of its recipe and its parent's id (see layer-id.ts), so a layer
// directory never changes once renamed into place; an image file is replaced atomically.
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_IMAGE_ROOT = '/var/lib/corral/images';

export interface LayerMeta {
  id: string;
  /** The image whose recipe produced this layer (informational; layers can be shared). */
  image: string;
  parent: string | null;
  builtAt: string;
  buildMs: number;
  sizeBytes: number;
}

export interface ImageMeta {
  name: string;
  /** Layer ids, bottom (base) first. */
  layers: string[];
  builtAt: string;
  /** Version string of each language the image provides, recorded at build time. */
  versions: Record<string, string>;
  /** What the versions were probed with (the builder re-probes when the version commands change). */
  probeKey?: string;
}

export interface ResolvedImage {
  name: string;
  /** Absolute `fs` directories of the image's layers, bottom first: overlay lowerdirs. */
  layerDirs: string[];
}

export interface ImageInfo extends ImageMeta {
  sizeBytes: number;
}

export class ImageError extends Error {
  constructor(message: string, readonly code: 'IMAGE_NOT_BUILT' | 'IMAGE_BROKEN' | 'IMAGE_STORE') {
    super(message);
    this.name = 'ImageError';
  }
}

/** Image names: also file names in images/ and recipe file names. */
export const IMAGE_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const ID_RE = /^[0-9a-f]{16,64}$/;

export function assertImageName(name: string): void {
  if (!IMAGE_NAME_RE.test(name)) throw new ImageError(`invalid image name '${name}' (want ${IMAGE_NAME_RE})`, 'IMAGE_STORE');
}

export class ImageStore {
  /** Image files read, by image name, with the identity of the file they came from. */
  private readonly readImages = new Map<string, { identity: string; meta: ImageMeta }>();

  constructor(readonly root: string = DEFAULT_IMAGE_ROOT) {}

  layerDir(id: string): string {
    if (!ID_RE.test(id)) throw new ImageError(`invalid layer id '${id}'`, 'IMAGE_STORE');
    return join(this.root, 'layers', id);
  }
  layerFsDir(id: string): string { return join(this.layerDir(id), 'fs'); }
  imageFile(name: string): string { assertImageName(name); return join(this.root, 'images', `${name}.json`); }
  get tmpDir(): string { return join(this.root, 'tmp'); }
  get cacheDir(): string { return join(this.root, 'cache'); }
  get logDir(): string { return join(this.root, 'logs'); }

  /** A layer counts as present only once its layer.json exists (written before the final rename). */
  hasLayer(id: string): boolean {
    return existsSync(join(this.layerDir(id), 'layer.json'));
  }

  async readLayer(id: string): Promise<LayerMeta> {
    const file = join(this.layerDir(id), 'layer.json');
    try {
      return JSON.parse(await readFile(file, 'utf8')) as LayerMeta;
    } catch (err) {
      throw new ImageError(`layer ${id}: cannot read ${file}: ${(err as Error).message}`, 'IMAGE_BROKEN');
    }
  }

  /**
   * The image file's content, or null when the image is not built. A worker resolves its image on
   * every run, so what was read is kept and reused while the file is the same one (same inode,
   * size and mtime: writeImage replaces it by rename); one stat instead of a read through the
   * thread pool (open, stat, read, close: ~1 ms on an idle worker, measured).
   */
  async readImage(name: string): Promise<ImageMeta | null> {
    const file = this.imageFile(name);
    const st = statSync(file, { bigint: true, throwIfNoEntry: false });
    if (!st) {
      this.readImages.delete(name);
      return null;
    }
    const identity = `${st.ino}:${st.size}:${st.mtimeNs}`;
    const known = this.readImages.get(name);
    if (known?.identity === identity) return known.meta;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ImageError(`image ${name}: cannot read ${file}: ${(err as Error).message}`, 'IMAGE_STORE');
    }
    let meta: ImageMeta;
    try {
      meta = JSON.parse(text) as ImageMeta;
    } catch (err) {
      throw new ImageError(`image ${name}: ${file} is not valid JSON: ${(err as Error).message}`, 'IMAGE_BROKEN');
    }
    this.readImages.set(name, { identity, meta });
    return meta;
  }

  /** True when the image file exists and every one of its layers is present. */
  async isBuilt(name: string): Promise<boolean> {
    const meta = await this.readImage(name);
    return meta !== null && meta.layers.every((id) => this.hasLayer(id));
  }

  /** The overlay lowerdirs of a built image, bottom first. Throws IMAGE_NOT_BUILT otherwise. */
  async resolve(name: string): Promise<ResolvedImage> {
    const meta = await this.readImage(name);
    if (!meta) {
      throw new ImageError(`image '${name}' is not built in ${this.root} (run: corral images build ${name})`, 'IMAGE_NOT_BUILT');
    }
    const missing = meta.layers.filter((id) => !this.hasLayer(id));
    if (missing.length) {
      throw new ImageError(`image '${name}' in ${this.root} lacks layer(s) ${missing.join(', ')} (rebuild it)`, 'IMAGE_BROKEN');
    }
    return { name, layerDirs: meta.layers.map((id) => this.layerFsDir(id)) };
  }

  /** Writes the image file atomically (temp file + rename), so readers never see half a file. */
  async writeImage(meta: ImageMeta): Promise<void> {
    const file = this.imageFile(meta.name);
    await mkdir(join(this.root, 'images'), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(meta, null, 2) + '\n');
    await rename(tmp, file);
  }

  async imageNames(): Promise<string[]> {
    const dir = join(this.root, 'images');
    if (!existsSync(dir)) return [];
    return (await readdir(dir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  }

  async layerIds(): Promise<string[]> {
    const dir = join(this.root, 'layers');
    if (!existsSync(dir)) return [];
    return (await readdir(dir)).filter((f) => ID_RE.test(f)).sort();
  }

  /** Every image with the summed size of its layers (shared layers count in each image). */
  async list(): Promise<ImageInfo[]> {
    const out: ImageInfo[] = [];
    for (const name of await this.imageNames()) {
      const meta = await this.readImage(name);
      if (!meta) continue;
      let sizeBytes = 0;
      for (const id of meta.layers) if (this.hasLayer(id)) sizeBytes += (await this.readLayer(id)).sizeBytes;
      out.push({ ...meta, sizeBytes });
    }
    return out;
  }

  /** Forgets an image; its layers stay until gc() (another image may share them). */
  async rm(name: string): Promise<boolean> {
    const file = this.imageFile(name);
    if (!existsSync(file)) return false;
    await rm(file);
    return true;
  }

  /**
   * Removes every layer no image refers to, and leftovers of interrupted builds in tmp/ whose
   * builder process is gone. Returns the removed layer ids.
   */
  async gc(): Promise<{ removed: string[]; freedBytes: number }> {
    const used = new Set<string>();
    for (const name of await this.imageNames()) {
      const meta = await this.readImage(name);
      meta?.layers.forEach((id) => used.add(id));
    }
    const removed: string[] = [];
    let freedBytes = 0;
    for (const id of await this.layerIds()) {
      if (used.has(id)) continue;
      if (this.hasLayer(id)) freedBytes += (await this.readLayer(id)).sizeBytes;
      // Rename first so a concurrent resolve() never sees a half-deleted layer as present.
      const doomed = join(this.tmpDir, `gc-${id}-${process.pid}`);
      await mkdir(this.tmpDir, { recursive: true });
      await rename(this.layerDir(id), doomed);
      await rm(doomed, { recursive: true, force: true });
      removed.push(id);
    }
    await this.removeStaleTmp();
    return { removed, freedBytes };
  }

  /** Temp dirs are named `<anything>-<pid>`; remove those whose pid no longer runs. */
  async removeStaleTmp(): Promise<string[]> {
    if (!existsSync(this.tmpDir)) return [];
    const removed: string[] = [];
    for (const entry of await readdir(this.tmpDir)) {
      const pid = Number(/-(\d+)$/.exec(entry)?.[1]);
      if (pid && pidAlive(pid)) continue;
      await rm(join(this.tmpDir, entry), { recursive: true, force: true });
      removed.push(entry);
    }
    return removed;
  }
}

/** True while a process with this pid exists (lock files and temp dirs carry their owner's pid). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
